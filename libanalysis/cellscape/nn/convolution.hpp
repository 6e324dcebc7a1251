#pragma once
// 2D convolution with derivatives of every order built from fast kernels.
//
// LibTorch 1.13's CPU double backward of a convolution runs through
// slow_conv_transpose2d, so a Hessian-vector product through a DARTS network
// costs 7 gradients. Here the convolution, its input gradient and its weight
// gradient are three autograd functions whose backward passes call each other
// (each is linear in both of its tensor arguments), and each is computed by
// the fastest kernel that gives the same values: a forward convolution with
// the flipped kernel for the input gradient at stride 1, oneDNN's backward
// otherwise, and a polyphase split into undilated convolutions for the weight
// gradient of a dilated one.
#include <torch/nn/modules/conv.h>

#include <array>

namespace cellscape::nn {

struct ConvolutionGeometry {
    std::array<int64_t, 2> stride{1, 1};
    std::array<int64_t, 2> padding{0, 0};
    std::array<int64_t, 2> dilation{1, 1};
    int64_t groups = 1;
};

// torch::conv2d(input, weight, bias): the same values and derivatives, with
// faster first and second derivatives. `bias` may be undefined.
torch::Tensor convolution(const torch::Tensor& input, const torch::Tensor& weight, const ConvolutionGeometry& geometry,
                          const torch::Tensor& bias = {});

// The geometry of a Conv2d module (explicit zero padding only).
ConvolutionGeometry geometry_of(const torch::nn::Conv2dImpl& conv);

// The module's convolution through convolution(), or the module itself
// with that fast path off (nn/detail/fast_paths.hpp).
torch::Tensor convolve(const torch::nn::Conv2dImpl& conv, const torch::Tensor& input);

}  // namespace cellscape::nn
