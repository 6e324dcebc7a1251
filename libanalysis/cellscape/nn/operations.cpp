#include "cellscape/nn/operations.hpp"

#include "cellscape/nn/convolution.hpp"
#include "cellscape/nn/detail/fast_autograd.hpp"
#include "cellscape/nn/detail/fast_paths.hpp"
#include "cellscape/nn/forward_observer.hpp"
#include "cellscape/nn/packed_layout.hpp"

namespace cellscape::nn {
namespace {

using torch::nn::BatchNorm2d;
using torch::nn::BatchNorm2dOptions;
using torch::nn::Conv2d;
using torch::nn::Conv2dOptions;
using torch::nn::ReLU;

// One network's convolution of `in` to `out` channels in `groups`, for
// `pack` members: K times the channels in K times the groups, so that group
// k of the packed convolution is member k's convolution.
Conv2d convolution(int64_t in, int64_t out, torch::ExpandingArray<2> kernel, torch::ExpandingArray<2> stride,
                   torch::ExpandingArray<2> padding, int64_t dilation, int64_t groups, int64_t pack) {
    return Conv2d(Conv2dOptions(pack * in, pack * out, kernel)
                      .stride(stride)
                      .padding(padding)
                      .dilation(dilation)
                      .groups(pack * groups)
                      .bias(false));
}

BatchNorm2d batch_norm(int64_t channels, int64_t pack) {
    return BatchNorm2d(BatchNorm2dOptions(pack * channels).affine(true));
}

// A module whose whole computation is the Sequential `op`, which starts with a ReLU.
struct SequentialOperation : EdgeOperation {
    explicit SequentialOperation(torch::nn::Sequential sequence) : op(register_module("op", sequence)) {}
    torch::Tensor forward(const torch::Tensor& input) override { return run_sequence(op, 0, input); }
    bool starts_with_relu() const override { return true; }
    torch::Tensor forward_rectified(const torch::Tensor& rectified) override { return run_sequence(op, 1, rectified); }
    torch::nn::Sequential op;
};

std::pair<torch::Tensor, torch::Tensor> batch_norm_affine(const torch::nn::BatchNorm2dImpl& bn) {
    return eval_batch_norm_affine(bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.options.eps());
}

// A convolution followed by an eval-mode BatchNorm as one convolution with
// weight w * scale and bias `shift`. The same function of the weights, gamma
// and beta, so the same derivatives, with one operation fewer to run and to
// differentiate twice.
torch::Tensor folded_convolution(const torch::nn::Conv2dImpl& conv, const torch::Tensor& scale,
                                 const torch::Tensor& shift, const torch::Tensor& input) {
    const torch::Tensor weight = conv.weight * scale.view({-1, 1, 1, 1});
    const ConvolutionGeometry g = geometry_of(conv);
    if (!fast_paths().convolution_derivatives)
        return torch::conv2d(input, weight, shift, {g.stride[0], g.stride[1]}, {g.padding[0], g.padding[1]},
                             {g.dilation[0], g.dilation[1]}, g.groups);
    return convolution(input, weight, g, shift);
}

// An observer sees each convolution's own output (nn/forward_observer.hpp), which folding would hide.
bool folds_into_convolution(const torch::nn::BatchNorm2dImpl& bn) {
    return !bn.is_training() && fast_paths().batchnorm_folding && !forward_observer();
}

// The module's convolution, its output shown to the thread's observer.
torch::Tensor observed_convolution(const torch::nn::Conv2dImpl& conv, const torch::Tensor& input) {
    return observe_layer_output(conv.weight, convolve(conv, input));
}

// Twice (ReLU, depthwise kxk, pointwise 1x1, BatchNorm); stride on the first depthwise only.
std::shared_ptr<EdgeOperation> separable_convolution(int64_t c, int64_t kernel, int64_t stride, int64_t k) {
    const int64_t padding = kernel / 2;
    return std::make_shared<SequentialOperation>(torch::nn::Sequential(
        ReLU(), convolution(c, c, kernel, stride, padding, 1, c, k), convolution(c, c, 1, 1, 0, 1, 1, k),
        batch_norm(c, k), ReLU(), convolution(c, c, kernel, 1, padding, 1, c, k), convolution(c, c, 1, 1, 0, 1, 1, k),
        batch_norm(c, k)));
}

// ReLU, depthwise kxk with dilation 2, pointwise 1x1, BatchNorm.
std::shared_ptr<EdgeOperation> dilated_convolution(int64_t c, int64_t kernel, int64_t stride, int64_t k) {
    return std::make_shared<SequentialOperation>(
        torch::nn::Sequential(ReLU(), convolution(c, c, kernel, stride, kernel - 1, 2, c, k),
                              convolution(c, c, 1, 1, 0, 1, 1, k), batch_norm(c, k)));
}

// ReLU, 1x7 conv, 7x1 conv, BatchNorm.
std::shared_ptr<EdgeOperation> factorized_7x7(int64_t c, int64_t stride, int64_t k) {
    return std::make_shared<SequentialOperation>(
        torch::nn::Sequential(ReLU(), convolution(c, c, {1, 7}, {1, stride}, {0, 3}, 1, 1, k),
                              convolution(c, c, {7, 1}, {stride, 1}, {3, 0}, 1, 1, k), batch_norm(c, k)));
}

struct Pooling : EdgeOperation {
    Pooling(bool max, int64_t stride) : max_(max), stride_(stride) {}
    torch::Tensor forward(const torch::Tensor& input) override {
        namespace F = torch::nn::functional;
        if (max_) return F::max_pool2d(input, F::MaxPool2dFuncOptions(3).stride(stride_).padding(1));
        return F::avg_pool2d(input, F::AvgPool2dFuncOptions(3).stride(stride_).padding(1).count_include_pad(false));
    }
    bool max_;
    int64_t stride_;
};

struct Identity : EdgeOperation {
    torch::Tensor forward(const torch::Tensor& input) override { return input; }
    bool is_identity() const override { return true; }
};

struct Zero : EdgeOperation {
    explicit Zero(int64_t stride) : stride_(stride) {}
    torch::Tensor forward(const torch::Tensor& input) override {
        using torch::indexing::None;
        using torch::indexing::Slice;
        if (stride_ == 1) return input.mul(0.0);
        return input.index({Slice(), Slice(), Slice(None, None, stride_), Slice(None, None, stride_)}).mul(0.0);
    }
    int64_t stride_;
};

}  // namespace

std::pair<torch::Tensor, torch::Tensor> eval_batch_norm_affine(const torch::Tensor& gamma, const torch::Tensor& beta,
                                                               const torch::Tensor& mean, const torch::Tensor& var,
                                                               double eps) {
    torch::Tensor scale = torch::rsqrt(var + eps);
    if (gamma.defined()) scale = gamma * scale;
    torch::Tensor shift = -mean * scale;
    if (beta.defined()) shift = beta + shift;
    return {scale, shift};
}

torch::Tensor run_sequence(torch::nn::Sequential sequence, std::size_t first, torch::Tensor input) {
    for (std::size_t i = first; i < sequence->size(); ++i) {
        const auto* conv = sequence->ptr(i)->as<torch::nn::Conv2d>();
        const auto* bn = i + 1 < sequence->size() ? sequence->ptr(i + 1)->as<torch::nn::BatchNorm2d>() : nullptr;
        if (conv && bn && folds_into_convolution(*bn)) {
            const auto [scale, shift] = batch_norm_affine(*bn);
            input = folded_convolution(*conv, scale, shift, input);
            ++i;
        } else if (conv) {
            input = observed_convolution(*conv, input);
        } else if (sequence->ptr(i)->as<torch::nn::ReLU>()) {
            observe_rectifier_input(input);
            input = rectify(input);
        } else {
            input = (sequence->begin() + static_cast<std::ptrdiff_t>(i))->forward(input);
        }
    }
    return input;
}

torch::Tensor ReluConvBatchNorm::forward(const torch::Tensor& input) {
    // NASWOT's reference hooks this module as well as the ReLU inside it (its
    // DARTS name, ReLUConvBN, contains "ReLU"): the same input, shown twice.
    observe_rectifier_input(input);
    return run_sequence(op, 0, input);
}

torch::Tensor ReluConvBatchNorm::forward_rectified(const torch::Tensor& rectified) {
    return run_sequence(op, 1, rectified);
}

ReluConvBatchNorm::ReluConvBatchNorm(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
                                     int64_t padding, int64_t pack)
    : op(register_module("op", torch::nn::Sequential(ReLU(), convolution(in_channels, out_channels, kernel, stride,
                                                                                  padding, 1, 1, pack),
                                                             batch_norm(out_channels, pack)))) {}

FactorizedReduce::FactorizedReduce(int64_t in_channels, int64_t out_channels, int64_t members) : pack(members) {
    TORCH_CHECK(out_channels % 2 == 0, "a factorized reduce needs an even channel count, got ", out_channels);
    conv_1 = register_module("conv_1", convolution(in_channels, out_channels / 2, 1, 2, 0, 1, 1, pack));
    conv_2 = register_module("conv_2", convolution(in_channels, out_channels / 2, 1, 2, 0, 1, 1, pack));
    bn = register_module("bn", batch_norm(out_channels, pack));
}

torch::Tensor FactorizedReduce::forward(const torch::Tensor& input) {
    observe_rectifier_input(input);
    return forward_rectified(rectify(input));
}

torch::Tensor FactorizedReduce::forward_rectified(const torch::Tensor& x) {
    // The second branch sees the input shifted by one pixel; for odd sizes it
    // would come out one pixel smaller, so it is padded at the far edge (even
    // sizes, the DARTS case, are unchanged). Negative padding crops, and unlike
    // slicing keeps the gradient channels-last (see nn/detail/fast_autograd.hpp).
    const torch::Tensor shifted = torch::constant_pad_nd(x, {-1, x.size(3) % 2, -1, x.size(2) % 2});
    // The BatchNorm's channels are each member's conv_1 outputs, then its
    // conv_2 outputs (nn/packed_layout.hpp).
    if (folds_into_convolution(*bn)) {
        const auto [scale, shift] = batch_norm_affine(*bn);
        const int64_t half = conv_1->options.out_channels() / pack;
        return concatenate_packed_channels(
            {folded_convolution(*conv_1, member_range(scale, pack, 0, half), member_range(shift, pack, 0, half), x),
             folded_convolution(*conv_2, member_range(scale, pack, half, half), member_range(shift, pack, half, half),
                                shifted)},
            pack);
    }
    return bn->forward(
        concatenate_packed_channels({observed_convolution(*conv_1, x), observed_convolution(*conv_2, shifted)}, pack));
}

std::shared_ptr<EdgeOperation> make_edge_operation(Operation op, int64_t channels, int64_t stride, int64_t pack) {
    switch (op) {
        case Operation::none: return std::make_shared<Zero>(stride);
        case Operation::max_pool_3x3: return std::make_shared<Pooling>(true, stride);
        case Operation::avg_pool_3x3: return std::make_shared<Pooling>(false, stride);
        case Operation::skip_connect:
            if (stride == 1) return std::make_shared<Identity>();
            return std::make_shared<FactorizedReduce>(channels, channels, pack);
        case Operation::sep_conv_3x3: return separable_convolution(channels, 3, stride, pack);
        case Operation::sep_conv_5x5: return separable_convolution(channels, 5, stride, pack);
        case Operation::sep_conv_7x7: return separable_convolution(channels, 7, stride, pack);
        case Operation::dil_conv_3x3: return dilated_convolution(channels, 3, stride, pack);
        case Operation::dil_conv_5x5: return dilated_convolution(channels, 5, stride, pack);
        case Operation::conv_7x1_1x7: return factorized_7x7(channels, stride, pack);
    }
    TORCH_CHECK(false, "unknown operation");
}

}  // namespace cellscape::nn
