#pragma once
// A replicate's rows of the study's tables (not installed;
// study/replicate_rows.cpp): the cell columns from its genotype alone (also
// for a failed one), the measured columns and its parts rows read back from
// its files, so reused work counts as much as new work.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "cellscape/study/replicates.hpp"
#include "cellscape/study/study_tables.hpp"

namespace cellscape::study_detail {

StudyRow replicate_row(const StudyReplicate& replicate);
void fill_row(StudyRow& row, const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch);
void append_parts(std::vector<StudyPartRow>& out, const StudyConfig& config, const StudyRow& row,
                  const std::filesystem::path& cell_dir, int64_t epoch);

}  // namespace cellscape::study_detail
