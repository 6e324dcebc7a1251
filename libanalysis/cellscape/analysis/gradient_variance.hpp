#pragma once
// Mini-batch gradient noise (docs/science.md section 4): how far the gradient of one
// batch of B samples strays from the gradient over all K batches. Its
// file is analysis/gradient_variance_file.hpp.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/analysis/gradient_variance_settings.hpp"
#include "cellscape/analysis/objective.hpp"
#include "cellscape/analysis/parameter_parts.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {


struct GradientVariance {
    int64_t batches = 0, batch_size = 0;
    // Sum over parameters of the unbiased per-element variance of the batch
    // gradients (Welford, float64): an unbiased estimate of E||g_B - g||^2.
    double total_variance = 0;
    double gradient_norm = 0;  // ||g||, g the mean of the K batch gradients (the gradient over their union)
    // B tr(Sigma_B) / ||G||^2: the "simple" gradient noise scale, with the
    // per-sample covariance estimated as B Sigma_B and ||G||^2 estimated without
    // bias as ||g||^2 - tr(Sigma_B) / K (NaN when that is not positive).
    double noise_scale = 0;
    std::vector<std::string> tensor_names;
    std::vector<double> tensor_variance;       // per tensor: sum of its elements' variances
    std::vector<double> tensor_gradient_norm;  // per tensor: ||g_t||
    std::vector<double> tensor_snr;            // per tensor: ||g_t|| / sqrt(tensor variance)
};

// Uses every evaluation batch of the Objective as one of the K >= 2 batches;
// they must all have the same size (K x B samples drawn without
// replacement). Progress per batch. A batch gradient that is not finite
// throws NonFiniteGradient (analysis/objective.hpp); an interrupt
// (util/interrupt.hpp) throws Interrupted between batches.
GradientVariance gradient_variance(Objective& objective, ProgressSink* progress = nullptr);

nlohmann::ordered_json gradient_variance_json(const GradientVariance& result);

// The variance split by part of the network (parameter_parts.hpp), from the
// per-tensor columns: per part, the sum of its tensors' variances (the
// parts' sum to total_variance), the norm of its mean gradient, and their
// ratio (INFINITY for a part without variance). Parts in the order their
// first tensor appears.
struct PartGradientVariance {
    std::string name;
    int64_t tensors = 0;
    double variance = 0, gradient_norm = 0, snr = 0;
};
std::vector<PartGradientVariance> gradient_variance_by_part(const GradientVariance& result, PartLevel level);

// {"parts": [{"name", "tensors", "variance", "gradient_norm", "snr"}, ...]}
nlohmann::ordered_json gradient_variance_parts_json(const std::vector<PartGradientVariance>& parts);

// A gradient variance as it runs: its K x B samples, its Objective (batches
// of B), K, and the parts it is split by.
struct GradientVarianceJob {
    EvaluationSamples samples;
    ObjectiveOptions objective;
    int64_t batches = 0;
    std::optional<PartLevel> parts;
};

// Settings made into what runs in `context` (K x B training images chosen
// by its seed); SettingError "batches" below 2, "batch_size" below 1.
GradientVarianceJob resolve_gradient_variance(const GradientVarianceSettings& settings, const AnalysisContext& context);

// The settings a gradient variance file records as its "settings"
// attribute, for the study's files and the gradvar command's: batches,
// batch_size, and, only when not the default, bn, split, sampling, dtype,
// by_part.
nlohmann::ordered_json gradient_variance_settings_json(const GradientVarianceJob& run);


}  // namespace cellscape
