#include "cellscape/analysis/gradient_variance.hpp"

#include <fmt/format.h>

#include <cmath>
#include <optional>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {

GradientVariance gradient_variance(Objective& objective, ProgressSink* progress) {
    const auto batches = static_cast<int64_t>(objective.batch_count());
    if (batches < 2)
        throw SettingError("batches", fmt::format("must be at least 2 for a variance (got {})", batches));
    const int64_t batch_size = objective.batch_samples(0);
    if (objective.batch_samples(static_cast<std::size_t>(batches - 1)) != batch_size)
        throw Error(fmt::format("{} samples do not split into {} equal batches of {}", objective.sample_count(), batches,
                                batch_size));

    // Welford's update per element, in float64.
    torch::Tensor mean = torch::zeros({objective.dimension()}, torch::kFloat64);
    torch::Tensor squares = torch::zeros_like(mean);
    const ProgressTask task(progress, "gradient variance", batches, "batches");
    for (int64_t k = 0; k < batches; ++k) {
        if (InterruptGuard::requested())
            throw Interrupted(InterruptGuard::signal_number(),
                              "interrupted while computing the gradient variance; nothing of it is saved: run it again");
        const torch::Tensor g = objective.batch_gradient(static_cast<std::size_t>(k)).to(torch::kCPU, torch::kFloat64);
        const torch::Tensor delta = g - mean;
        mean += delta / static_cast<double>(k + 1);
        squares += delta * (g - mean);
        task.update(k + 1);
    }
    const torch::Tensor variance = squares / static_cast<double>(batches - 1);

    GradientVariance result;
    result.batches = batches;
    result.batch_size = batch_size;
    result.total_variance = variance.sum().item<double>();
    result.gradient_norm = mean.norm().item<double>();
    const double signal = result.gradient_norm * result.gradient_norm - result.total_variance / static_cast<double>(batches);
    result.noise_scale = signal > 0 ? static_cast<double>(batch_size) * result.total_variance / signal : NAN;
    int64_t offset = 0;
    for (const auto& [name, parameter] : objective.parameters()) {
        const int64_t count = parameter.numel();
        const double tensor_variance = variance.narrow(0, offset, count).sum().item<double>();
        const double norm = mean.narrow(0, offset, count).norm().item<double>();
        result.tensor_names.push_back(name);
        result.tensor_variance.push_back(tensor_variance);
        result.tensor_gradient_norm.push_back(norm);
        result.tensor_snr.push_back(tensor_variance > 0 ? norm / std::sqrt(tensor_variance) : INFINITY);
        offset += count;
    }
    return result;
}

nlohmann::ordered_json gradient_variance_json(const GradientVariance& result) {
    auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    return {{"total_variance", result.total_variance},
            {"gradient_norm", result.gradient_norm},
            {"noise_scale", number(result.noise_scale)},
            {"batches", result.batches},
            {"batch_size", result.batch_size},
            {"tensors", result.tensor_names.size()}};
}

std::vector<PartGradientVariance> gradient_variance_by_part(const GradientVariance& result, PartLevel level) {
    // Each tensor counted as one element: the parts' ranges are ranges of tensors.
    std::vector<std::pair<std::string, int64_t>> tensors;
    for (const std::string& name : result.tensor_names) tensors.emplace_back(name, 1);
    std::vector<PartGradientVariance> parts;
    for (const ParameterPart& part : parameter_parts(tensors, level)) {
        PartGradientVariance summary{part.name, part.size, 0, 0, 0};
        double squared_norm = 0;
        for (const auto& [first, count] : part.ranges)
            for (auto t = static_cast<std::size_t>(first); t < static_cast<std::size_t>(first + count); ++t) {
                summary.variance += result.tensor_variance[t];
                squared_norm += result.tensor_gradient_norm[t] * result.tensor_gradient_norm[t];
            }
        summary.gradient_norm = std::sqrt(squared_norm);
        summary.snr = summary.variance > 0 ? summary.gradient_norm / std::sqrt(summary.variance) : INFINITY;
        parts.push_back(summary);
    }
    return parts;
}

nlohmann::ordered_json gradient_variance_parts_json(const std::vector<PartGradientVariance>& parts) {
    nlohmann::ordered_json list = nlohmann::json::array();
    for (const auto& part : parts)
        list.push_back({{"name", part.name},
                        {"tensors", part.tensors},
                        {"variance", part.variance},
                        {"gradient_norm", part.gradient_norm},
                        {"snr", std::isfinite(part.snr) ? nlohmann::json(part.snr) : nlohmann::json(nullptr)}});
    return {{"parts", list}};
}

GradientVarianceJob resolve_gradient_variance(const GradientVarianceSettings& settings, const AnalysisContext& context) {
    if (settings.batches < 2)
        throw SettingError("batches", fmt::format("must be at least 2 for a variance (got {})", settings.batches));
    GradientVarianceJob run{context.training_samples(settings.batches * settings.batch_size),
                            context.objective_options(settings.batch_size, settings.bn), settings.batches,
                            settings.parts};
    run.objective.validate();
    return run;
}

nlohmann::ordered_json gradient_variance_settings_json(const GradientVarianceJob& run) {
    nlohmann::ordered_json settings = {{"batches", run.batches}, {"batch_size", run.objective.batch_size}};
    add_evaluation_settings(settings, run.samples, run.objective);
    if (run.parts) settings["by_part"] = name_of(*run.parts);
    return settings;
}


}  // namespace cellscape
