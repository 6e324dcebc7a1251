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

void write_gradient_variance_file(const std::filesystem::path& path, const std::vector<std::string>& sources,
                                  const std::vector<GradientVariance>& results, const ObjectiveProvenance& provenance,
                                  const OutputRecord& record, std::optional<PartLevel> parts) {
    if (results.empty() || results.size() != sources.size())
        throw Error(fmt::format("internal: a gradient variance file of {} results for {} models", results.size(),
                                sources.size()));
    write_hdf5_atomically(path, [&](Hdf5File& file) {
        write_standard_attributes(file, gradient_variance_format, gradient_variance_format_version, record);
        provenance.write_to(file);
        file.set_attribute("/", "models", nlohmann::json(sources).dump());
        file.set_attribute("/", "tensor_names", nlohmann::json(results.front().tensor_names).dump());
        file.set_attribute("/", "batches", results.front().batches);
        file.set_attribute("/", "batch_size", results.front().batch_size);
        auto column = [&](auto member) {
            std::vector<double> values;
            for (const auto& result : results) values.push_back(result.*member);
            return torch::tensor(values, torch::kFloat64);
        };
        auto matrix = [&](auto member) {
            std::vector<torch::Tensor> rows;
            for (const auto& result : results) rows.push_back(torch::tensor(result.*member, torch::kFloat64));
            return torch::stack(rows);
        };
        file.write("total_variance", column(&GradientVariance::total_variance));
        file.write("gradient_norm", column(&GradientVariance::gradient_norm));
        file.write("noise_scale", column(&GradientVariance::noise_scale));
        file.write("tensor_variance", matrix(&GradientVariance::tensor_variance));
        file.write("tensor_gradient_norm", matrix(&GradientVariance::tensor_gradient_norm));
        file.write("tensor_snr", matrix(&GradientVariance::tensor_snr));
        if (!parts) return;
        // One row per model, one column per part (every model has the same tensors).
        std::vector<std::vector<PartGradientVariance>> by_model;
        for (const auto& result : results) by_model.push_back(gradient_variance_by_part(result, *parts));
        std::vector<std::string> names;
        std::vector<int64_t> tensors;
        for (const auto& part : by_model.front()) {
            names.push_back(part.name);
            tensors.push_back(part.tensors);
        }
        file.write_strings("parts/name", names);
        file.write("parts/tensors", torch::tensor(tensors, torch::kInt64));
        const struct {
            const char* name;
            double PartGradientVariance::*field;
        } part_columns[] = {{"parts/variance", &PartGradientVariance::variance},
                            {"parts/gradient_norm", &PartGradientVariance::gradient_norm},
                            {"parts/snr", &PartGradientVariance::snr}};
        for (const auto& part_column : part_columns) {
            std::vector<torch::Tensor> rows;
            for (const auto& model_parts : by_model) {
                std::vector<double> values;
                for (const auto& part : model_parts) values.push_back(part.*part_column.field);
                rows.push_back(torch::tensor(values, torch::kFloat64));
            }
            file.write(part_column.name, torch::stack(rows));
        }
    });
}

}  // namespace cellscape
