#include "nn/operations.hpp"

namespace cellscape::nn {
namespace {

using torch::nn::BatchNorm2d;
using torch::nn::BatchNorm2dOptions;
using torch::nn::Conv2d;
using torch::nn::Conv2dOptions;
using torch::nn::ReLU;

Conv2d convolution(int64_t in, int64_t out, torch::ExpandingArray<2> kernel, torch::ExpandingArray<2> stride,
                   torch::ExpandingArray<2> padding, int64_t dilation = 1, int64_t groups = 1) {
    return Conv2d(Conv2dOptions(in, out, kernel).stride(stride).padding(padding).dilation(dilation).groups(groups)
                      .bias(false));
}

BatchNorm2d batch_norm(int64_t channels) { return BatchNorm2d(BatchNorm2dOptions(channels).affine(true)); }

// A module whose whole computation is the Sequential `op`, which starts with a ReLU.
struct SequentialOperation : EdgeOperation {
    explicit SequentialOperation(torch::nn::Sequential sequence) : op(register_module("op", sequence)) {}
    torch::Tensor forward(const torch::Tensor& input) override { return run_sequence(op, 0, input); }
    bool starts_with_relu() const override { return true; }
    torch::Tensor forward_rectified(const torch::Tensor& rectified) override { return run_sequence(op, 1, rectified); }
    torch::nn::Sequential op;
};

// Convolution then eval-mode BatchNorm as one convolution:
// w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps).
torch::Tensor folded_convolution(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn,
                                 const torch::Tensor& input) {
    const torch::Tensor scale = bn.weight * torch::rsqrt(bn.running_var + bn.options.eps());
    const auto& options = conv.options;
    return torch::conv2d(input, conv.weight * scale.view({-1, 1, 1, 1}), bn.bias - bn.running_mean * scale,
                         *options.stride(), *c10::get<torch::ExpandingArray<2>>(options.padding()),
                         *options.dilation(), options.groups());
}

// Twice (ReLU, depthwise kxk, pointwise 1x1, BatchNorm); stride on the first depthwise only.
std::shared_ptr<EdgeOperation> separable_convolution(int64_t c, int64_t kernel, int64_t stride) {
    const int64_t padding = kernel / 2;
    return std::make_shared<SequentialOperation>(torch::nn::Sequential(
        ReLU(), convolution(c, c, kernel, stride, padding, 1, c), convolution(c, c, 1, 1, 0), batch_norm(c), ReLU(),
        convolution(c, c, kernel, 1, padding, 1, c), convolution(c, c, 1, 1, 0), batch_norm(c)));
}

// ReLU, depthwise kxk with dilation 2, pointwise 1x1, BatchNorm.
std::shared_ptr<EdgeOperation> dilated_convolution(int64_t c, int64_t kernel, int64_t stride) {
    return std::make_shared<SequentialOperation>(torch::nn::Sequential(
        ReLU(), convolution(c, c, kernel, stride, kernel - 1, 2, c), convolution(c, c, 1, 1, 0), batch_norm(c)));
}

// ReLU, 1x7 conv, 7x1 conv, BatchNorm.
std::shared_ptr<EdgeOperation> factorized_7x7(int64_t c, int64_t stride) {
    return std::make_shared<SequentialOperation>(
        torch::nn::Sequential(ReLU(), convolution(c, c, {1, 7}, {1, stride}, {0, 3}),
                              convolution(c, c, {7, 1}, {stride, 1}, {3, 0}), batch_norm(c)));
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

torch::Tensor run_sequence(torch::nn::Sequential sequence, std::size_t first, torch::Tensor input) {
    const bool inference = !sequence->is_training() && !torch::GradMode::is_enabled();
    for (std::size_t i = first; i < sequence->size(); ++i) {
        const auto* conv = sequence->ptr(i)->as<torch::nn::Conv2d>();
        const auto* bn = i + 1 < sequence->size() ? sequence->ptr(i + 1)->as<torch::nn::BatchNorm2d>() : nullptr;
        if (inference && conv && bn) {
            input = folded_convolution(*conv, *bn, input);
            ++i;
        } else {
            input = (sequence->begin() + static_cast<std::ptrdiff_t>(i))->forward(input);
        }
    }
    return input;
}

torch::Tensor ReluConvBatchNorm::forward(const torch::Tensor& input) { return run_sequence(op, 0, input); }

torch::Tensor ReluConvBatchNorm::forward_rectified(const torch::Tensor& rectified) {
    return run_sequence(op, 1, rectified);
}

ReluConvBatchNorm::ReluConvBatchNorm(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
                                     int64_t padding)
    : op(register_module("op", torch::nn::Sequential(ReLU(), convolution(in_channels, out_channels, kernel, stride,
                                                                                  padding),
                                                             batch_norm(out_channels)))) {}

FactorizedReduce::FactorizedReduce(int64_t in_channels, int64_t out_channels) {
    TORCH_CHECK(out_channels % 2 == 0, "a factorized reduce needs an even channel count, got ", out_channels);
    conv_1 = register_module("conv_1", convolution(in_channels, out_channels / 2, 1, 2, 0));
    conv_2 = register_module("conv_2", convolution(in_channels, out_channels / 2, 1, 2, 0));
    bn = register_module("bn", batch_norm(out_channels));
}

torch::Tensor FactorizedReduce::forward_rectified(const torch::Tensor& x) {
    using torch::indexing::None;
    using torch::indexing::Slice;
    torch::Tensor shifted = x.index({Slice(), Slice(), Slice(1, None), Slice(1, None)});
    // For odd sizes the shifted branch would come out one pixel smaller; pad
    // it at the far edge (even sizes, the DARTS case, are unchanged).
    const int64_t pad_bottom = x.size(2) % 2, pad_right = x.size(3) % 2;
    if (pad_bottom || pad_right) shifted = torch::constant_pad_nd(shifted, {0, pad_right, 0, pad_bottom});
    return bn->forward(torch::cat({conv_1->forward(x), conv_2->forward(shifted)}, 1));
}

std::shared_ptr<EdgeOperation> make_edge_operation(Operation op, int64_t channels, int64_t stride) {
    switch (op) {
        case Operation::none: return std::make_shared<Zero>(stride);
        case Operation::max_pool_3x3: return std::make_shared<Pooling>(true, stride);
        case Operation::avg_pool_3x3: return std::make_shared<Pooling>(false, stride);
        case Operation::skip_connect:
            if (stride == 1) return std::make_shared<Identity>();
            return std::make_shared<FactorizedReduce>(channels, channels);
        case Operation::sep_conv_3x3: return separable_convolution(channels, 3, stride);
        case Operation::sep_conv_5x5: return separable_convolution(channels, 5, stride);
        case Operation::sep_conv_7x7: return separable_convolution(channels, 7, stride);
        case Operation::dil_conv_3x3: return dilated_convolution(channels, 3, stride);
        case Operation::dil_conv_5x5: return dilated_convolution(channels, 5, stride);
        case Operation::conv_7x1_1x7: return factorized_7x7(channels, stride);
    }
    TORCH_CHECK(false, "unknown operation");
}

}  // namespace cellscape::nn
