#pragma once
// A replicate's files (not installed): their names, the check that one read
// back is a file this build reads, and which a finished replicate has
// (study/replicate_files.cpp).
#include <cstdint>
#include <filesystem>
#include <string>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/study/study_config.hpp"

namespace cellscape::study_detail {

// KIND-epoch-NNNN.h5; direction pair p > 0 of a surface adds -pair-p; the
// proxies file is the initial network's (epoch 0).
std::string analysis_name(const std::string& kind, int64_t epoch);
std::string surface_name(int64_t epoch, int64_t pair);
std::filesystem::path proxies_path(const std::filesystem::path& cell_dir);
// A replicate's analysis file read back: Error naming the file and the way
// out unless it is a `format` file this build reads.
void require_replicate_file(const Hdf5File& file, const char* format, int64_t newest_version);
// The first output a finished replicate has and this one lacks (empty if none).
std::filesystem::path missing_outputs(const StudyConfig& config, const std::filesystem::path& cell_dir);

}  // namespace cellscape::study_detail
