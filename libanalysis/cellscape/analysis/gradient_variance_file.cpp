#include "cellscape/analysis/gradient_variance_file.hpp"

#include <fmt/format.h>

#include "cellscape/util/error.hpp"

namespace cellscape {

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
        file.write(gradient_variance_file::total_variance, column(&GradientVariance::total_variance));
        file.write("gradient_norm", column(&GradientVariance::gradient_norm));
        file.write(gradient_variance_file::noise_scale, column(&GradientVariance::noise_scale));
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
        file.write_strings(gradient_variance_file::part_name, names);
        file.write("parts/tensors", torch::tensor(tensors, torch::kInt64));
        const struct {
            const char* name;
            double PartGradientVariance::*field;
        } part_columns[] = {{gradient_variance_file::part_variance, &PartGradientVariance::variance},
                            {gradient_variance_file::part_gradient_norm, &PartGradientVariance::gradient_norm},
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

GradientVarianceFileValues read_gradient_variance_file(const std::filesystem::path& path) {
    const Hdf5File file(path, Hdf5File::Mode::read);
    require_format(file, gradient_variance_format, gradient_variance_format_version);
    GradientVarianceFileValues values;
    values.total_variance = file.read(gradient_variance_file::total_variance)[0].item<double>();
    values.noise_scale = file.read(gradient_variance_file::noise_scale)[0].item<double>();
    return values;
}

std::vector<GradientVarianceFilePart> read_gradient_variance_parts(const std::filesystem::path& path) {
    using namespace gradient_variance_file;
    const Hdf5File file(path, Hdf5File::Mode::read);
    require_format(file, gradient_variance_format, gradient_variance_format_version);
    if (!file.contains(part_name)) return {};
    const auto names = file.read_strings(part_name);
    const auto models = static_cast<std::size_t>(file.read(total_variance).numel());
    // models x parts, read row-major: the first model's row comes first.
    const auto variance = file.read_doubles(part_variance), norm = file.read_doubles(part_gradient_norm);
    for (const auto& [column, size] : {std::pair{part_variance, variance.size()}, {part_gradient_norm, norm.size()}})
        if (size != models * names.size())
            throw Hdf5Error(fmt::format("{}: its parts table has {} names but {} values in {} for {} models: the file "
                                        "is damaged",
                                        path.string(), names.size(), size, column, models));
    std::vector<GradientVarianceFilePart> parts;
    for (std::size_t i = 0; i < names.size(); ++i) parts.push_back({names[i], variance[i], norm[i]});
    return parts;
}

}  // namespace cellscape
