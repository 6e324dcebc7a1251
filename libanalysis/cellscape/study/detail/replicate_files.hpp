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
// A replicate's analysis file read back by its format's reader
// (analysis/*_file.hpp, `read(path)`): a file that is not one of that
// format this build reads, or a damaged one (the reader's Hdf5Error), is
// an Error naming the file and the way out.
Error replicate_file_error(const Hdf5Error& error, const char* format);
template <typename Read>
auto read_replicate_file(const std::filesystem::path& path, const char* format, Read read) -> decltype(read(path)) {
    try {
        return read(path);
    } catch (const Hdf5Error& error) {
        throw replicate_file_error(error, format);
    }
}
// The first output a finished replicate has and this one lacks (empty if none).
std::filesystem::path missing_outputs(const StudyConfig& config, const std::filesystem::path& cell_dir);

}  // namespace cellscape::study_detail
