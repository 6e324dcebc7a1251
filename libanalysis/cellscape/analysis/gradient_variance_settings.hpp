#pragma once
// How a gradient variance is asked for: K batches of B training images
// (K x B drawn without replacement), BatchNorm's mode, and optionally the
// variance by part; a study's [analysis.gradient_variance] table states it
// (read_gradient_variance_settings). Torch-free, so a config can hold it;
// analysis/gradient_variance.hpp runs it and records it.
#include <cstdint>
#include <optional>

#include "cellscape/analysis/objective_settings.hpp"
#include "cellscape/analysis/parameter_parts.hpp"

namespace cellscape {

class TomlTable;

struct GradientVarianceSettings {
    bool enabled = true;                     // in a study
    int64_t batches = 10, batch_size = 64;   // K and B
    BatchNormMode bn = BatchNormMode::eval;  // "train": the gradient noise SGD sees
    std::optional<PartLevel> parts;          // by_part: the variance split by part, as the gradvar command's
};

// Reads the table's keys (enabled, batches, batch_size, bn, by_part) into
// `settings`; unknown keys and wrong types are errors naming the key.
// Values are judged by resolve_gradient_variance.
void read_gradient_variance_settings(TomlTable& table, GradientVarianceSettings& settings);

}  // namespace cellscape
