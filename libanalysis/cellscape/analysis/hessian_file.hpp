#pragma once
// The Hessian file (docs/hdf5-schema.md, "cellscape hessian"): its format
// name and version, the names of what is read back, the writer and the
// typed reader, side by side. The hessian command and the study write it;
// the study's tables, surfaces along eigenvectors (analysis/directions.cpp)
// and the tests read it through this header.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/analysis/hessian_report.hpp"
#include "cellscape/io/hdf5.hpp"

namespace cellscape {

inline constexpr const char* hessian_format = "cellscape-hessian";
inline constexpr int64_t hessian_format_version = 1;

// The datasets and attributes of a Hessian file that cellscape reads back
// (docs/hdf5-schema.md lists them all): written and read through these
// names only, so a rename is one edit.
namespace hessian_file {
inline constexpr const char* eigenvalues = "eigenvalues";       // top k, largest first; NaN where not converged
inline constexpr const char* trace = "trace";                   // attribute: Hutchinson's mean
inline constexpr const char* trace_stderr = "trace_stderr";     // attribute: its standard error
inline constexpr const char* part_name = "parts/name";          // with by_part: one row per part
inline constexpr const char* part_parameters = "parts/parameters";
inline constexpr const char* part_top_eigenvalue = "parts/top_eigenvalue";
inline constexpr const char* part_trace = "parts/trace";
inline constexpr const char* part_trace_stderr = "parts/trace_stderr";
// The group of the top eigenvector `index`, one dataset per parameter tensor by its name.
std::string eigenvector_group(int64_t index);
}  // namespace hessian_file

void write_hessian_file(const std::filesystem::path& path, const Objective& objective, const HessianReport& report,
                        const OutputRecord& record);

// One row of a Hessian file's parts table.
struct HessianFilePart {
    std::string name;
    int64_t parameters = 0;
    double top_eigenvalue = NAN, trace = NAN, trace_stderr = NAN;  // NaN: not computed
};

// What a study reads back from a Hessian file.
struct HessianFileValues {
    std::optional<double> top_eigenvalue;  // the largest (NaN when it did not converge); none without eigenvalues
    std::optional<double> trace;           // none without a trace
};

// Each opens `path` as a Hessian file of a version this build reads
// (Hdf5Error naming the file and both versions otherwise). The values; and
// the parts table (empty without by_part), Hdf5Error naming the file and
// the column when its columns do not have one value per part (a damaged
// file). Read apart, so that a damaged parts table fails only a reader
// that asks for the parts.
HessianFileValues read_hessian_file(const std::filesystem::path& path);
std::vector<HessianFilePart> read_hessian_parts(const std::filesystem::path& path);

}  // namespace cellscape
