#pragma once
// A study's summary.h5 (docs/hdf5-schema.md, "Study summary"): the
// replicates, cells, associations, metric associations, mediation and parts
// tables with the settings that decided them. Its writer and its reader
// live here side by side (study/summary_file.cpp), with its format's name
// and version; the plans (study/plan.hpp) and the figures read it.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cellscape/study/study_config.hpp"
#include "cellscape/study/study_tables.hpp"

namespace cellscape {

inline constexpr const char* study_summary_format = "cellscape-study";
inline constexpr int64_t study_summary_format_version = 4;

struct StudyResult {
    std::vector<StudyRow> rows;                        // the replicates table
    std::vector<StudyCellRow> cells;                   // means and intervals per cell
    std::vector<StudyAssociationRow> associations;     // rank associations and verdicts
    std::vector<StudyMetricAssociationRow> metric_associations;  // metric against metric
    std::vector<StudyMediationRow> mediation;          // width -> convergence through each metric
    std::vector<StudyPartRow> parts;                   // curvature and gradient variance by part (by_part)
    int64_t failed_replicates = 0;
    std::filesystem::path summary;
};

// Writes the summary of `result` (its rows, tables and the config's
// statistics settings) atomically: the file appears whole or not at all.
void write_study_summary(const std::filesystem::path& path, const StudyConfig& config, const StudyResult& result,
                         const std::string& command);

// The replicates table of a study's summary.h5, as rows (a summary from
// before cellscape 0.2 has no population, censoring or cost columns: its
// rows get population "all", and NaN costs). Error naming the file for
// anything that is not a study summary or has columns of unequal length.
std::vector<StudyRow> read_study_replicates(const std::filesystem::path& summary);

}  // namespace cellscape
