#include "cellscape/analysis/directions.hpp"

#include <fmt/format.h>

#include <map>

#include "cellscape/analysis/hessian_file.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {
namespace {

// Scales `direction` so that its norm equals `target`'s (zero stays zero).
void match_norm(torch::Tensor direction, const torch::Tensor& target) {
    const torch::Tensor direction_norm = direction.norm();
    if (direction_norm.item<double>() > 0) direction.mul_(target.norm() / direction_norm);
}

// `found` must be shaped like `weight`; the error names the tensor and the source.
void require_same_shape(const torch::Tensor& found, const torch::Tensor& weight, const std::string& name,
                        const std::string& origin) {
    if (found.sizes() != weight.sizes())
        throw Error(fmt::format("{}: tensor {} has shape {} but the model's parameter has shape {}; the two do not "
                                "come from the same architecture",
                                origin, name, c10::str(found.sizes()), c10::str(weight.sizes())));
}

}  // namespace

NamedTensors random_direction(const NamedTensors& weights, at::Generator& generator) {
    NamedTensors direction;
    for (const auto& [name, weight] : weights)
        direction.emplace_back(name, torch::randn(weight.sizes(), generator, torch::kFloat64)
                                         .to(weight.device(), weight.scalar_type()));
    return direction;
}

void normalize_direction(NamedTensors& direction, const NamedTensors& weights, DirectionNorm norm,
                         bool ignore_bias_and_bn) {
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < direction.size(); ++i) {
        torch::Tensor d = direction[i].second;
        const torch::Tensor w = weights.at(i).second.detach();
        if (ignore_bias_and_bn && w.dim() <= 1) {
            d.zero_();
            continue;
        }
        if (norm == DirectionNorm::layer) {
            match_norm(d, w);
        } else if (norm == DirectionNorm::filter) {
            if (w.dim() == 0) {
                match_norm(d, w);
                continue;
            }
            for (int64_t slice = 0; slice < w.size(0); ++slice) match_norm(d.select(0, slice), w.select(0, slice));
        }
    }
}

NamedTensors read_direction(const Hdf5File& file, const std::string& group, const NamedTensors& weights) {
    if (!file.contains(group)) throw Error(fmt::format("{} has no group {}", file.path().string(), group));
    NamedTensors direction;
    for (const auto& [name, weight] : weights) {
        const std::string dataset = group + "/" + name;
        if (!file.contains(dataset))
            throw Error(fmt::format("{} has no {} entry for parameter {}: it was made for another model or another "
                                    "parameter selection",
                                    file.path().string(), group, name));
        const torch::Tensor values = file.read(dataset);
        require_same_shape(values, weight, name, file.path().string());
        // Checked like weights: a direction of integers or of NaN would give a surface of nonsense.
        if (!values.is_floating_point())
            throw Error(fmt::format("{}: {} is stored as {}, not as floating-point numbers; the file was not written "
                                    "by cellscape",
                                    file.path().string(), dataset, c10::toString(values.scalar_type())));
        if (!torch::isfinite(values).all().item<bool>())
            throw Error(fmt::format("{}: {} holds NaN or infinite values; the directions are unusable",
                                    file.path().string(), dataset));
        direction.emplace_back(name, values.to(weight.device(), weight.scalar_type()));
    }
    return direction;
}

NamedTensors hessian_direction(const std::filesystem::path& hessian_file, int64_t index, const NamedTensors& weights) {
    const Hdf5File file(hessian_file, Hdf5File::Mode::read);
    require_format(file, hessian_format, hessian_format_version);
    const std::string group = hessian_file::eigenvector_group(index);
    if (!file.contains(group))
        throw Error(fmt::format("{} has no eigenvector {}: compute at least {} top eigenvalues with their eigenvectors",
                                hessian_file.string(), index, index + 1));
    return read_direction(file, group, weights);
}

NamedTensors difference_direction(const NamedTensors& target, const NamedTensors& weights,
                                  const std::string& target_origin) {
    std::map<std::string, torch::Tensor> by_name(target.begin(), target.end());
    NamedTensors direction;
    for (const auto& [name, weight] : weights) {
        const auto found = by_name.find(name);
        if (found == by_name.end())
            throw Error(fmt::format("{} has no parameter {}: interpolate between checkpoints of the same network",
                                    target_origin, name));
        require_same_shape(found->second, weight, name, target_origin);
        direction.emplace_back(name, found->second.to(weight.device(), weight.scalar_type()) - weight.detach());
    }
    return direction;
}

}  // namespace cellscape
