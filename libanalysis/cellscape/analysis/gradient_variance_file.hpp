#pragma once
// The gradient variance file (docs/hdf5-schema.md, "cellscape gradvar"):
// its format name and version, the names of what is read back, the writer
// and the typed reader, side by side. The gradvar command and the study
// write it; the study's tables and the tests read it through this header.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/io/hdf5.hpp"

namespace cellscape {

inline constexpr const char* gradient_variance_format = "cellscape-gradvar";
inline constexpr int64_t gradient_variance_format_version = 1;

// The datasets cellscape reads back (one row per model; docs/hdf5-schema.md lists them all).
namespace gradient_variance_file {
inline constexpr const char* total_variance = "total_variance";
inline constexpr const char* noise_scale = "noise_scale";
inline constexpr const char* part_name = "parts/name";                   // with by_part: one column per part
inline constexpr const char* part_variance = "parts/variance";           // models x parts
inline constexpr const char* part_gradient_norm = "parts/gradient_norm";  // models x parts
}  // namespace gradient_variance_file

// One file for a series of models (e.g. the checkpoints of a run), in order;
// with `parts`, the variance by part of each (parts/, docs/hdf5-schema.md).
void write_gradient_variance_file(const std::filesystem::path& path, const std::vector<std::string>& sources,
                                  const std::vector<GradientVariance>& results, const ObjectiveProvenance& provenance,
                                  const OutputRecord& record, std::optional<PartLevel> parts = std::nullopt);

// One part of the first model of a gradient variance file.
struct GradientVarianceFilePart {
    std::string name;
    double variance = 0, gradient_norm = 0;
};

// What a study reads back: the first model's values.
struct GradientVarianceFileValues {
    double total_variance = 0, noise_scale = 0;
};

// Each opens `path` as a gradient variance file of a version this build
// reads (Hdf5Error naming the file and both versions otherwise). The first
// model's values; and its parts (empty without by_part), Hdf5Error naming
// the file and the column unless each parts column holds one value per
// part for each model (a damaged file). Read apart, so that a damaged parts
// table fails only a reader that asks for the parts.
GradientVarianceFileValues read_gradient_variance_file(const std::filesystem::path& path);
std::vector<GradientVarianceFilePart> read_gradient_variance_parts(const std::filesystem::path& path);

}  // namespace cellscape
