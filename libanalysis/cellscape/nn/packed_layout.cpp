#include "cellscape/nn/packed_layout.hpp"

#include <torch/nn/functional/linear.h>

#include <vector>

#include "cellscape/nn/detail/fast_autograd.hpp"

namespace cellscape::nn {

torch::Tensor concatenate_packed_channels(at::TensorList parts, int64_t pack) {
    if (pack == 1) return concatenate_channels(parts);
    const torch::Tensor& first = parts[0];
    const int64_t n = first.size(0), height = first.size(2), width = first.size(3);
    // A channels-last map is N x H x W x (K * c) in memory: its member-major
    // channels split into K x c without a copy, and the parts concatenate
    // along the last dimension, the result again channels-last. A contiguous
    // map splits as N x K x c x H x W. (reshape copies only a part in the
    // other layout.)
    const bool channels_last = first.suggest_memory_format() == torch::MemoryFormat::ChannelsLast;
    std::vector<torch::Tensor> split;
    int64_t channels = 0;
    for (const torch::Tensor& part : parts) {
        const int64_t c = part.size(1) / pack;
        channels += c;
        split.push_back(channels_last ? part.permute({0, 2, 3, 1}).reshape({n, height, width, pack, c})
                                      : part.reshape({n, pack, c, height, width}));
    }
    if (channels_last) return torch::cat(split, 4).view({n, height, width, pack * channels}).permute({0, 3, 1, 2});
    return torch::cat(split, 2).view({n, pack * channels, height, width});
}

torch::Tensor member_range(const torch::Tensor& values, int64_t pack, int64_t first, int64_t count) {
    return values.view({pack, -1}).narrow(1, first, count).reshape({-1});
}

torch::Tensor packed_linear(const torch::nn::LinearImpl& layer, const torch::Tensor& features, int64_t pack) {
    if (pack == 1) return torch::nn::functional::linear(features, layer.weight, layer.bias);  // layer's forward
    const int64_t n = features.size(0), in = layer.weight.size(1), out = layer.weight.size(0) / pack;
    // K batched products, member k's features times its weights plus its
    // bias: per member, F::linear's addmm(bias, x, w^T).
    const torch::Tensor x = features.reshape({n, pack, in}).transpose(0, 1);     // K x N x in
    const torch::Tensor w = layer.weight.view({pack, out, in}).transpose(1, 2);  // K x in x out
    const torch::Tensor y = torch::baddbmm(layer.bias.view({pack, 1, out}), x, w);
    return y.transpose(0, 1).reshape({n, pack * out});
}

torch::Tensor drop_path_mask(int64_t batch, double probability, const torch::TensorOptions& options) {
    return torch::bernoulli(torch::full({batch, 1, 1, 1}, 1.0 - probability, options));
}

}  // namespace cellscape::nn
