#pragma once
// Operations whose derivatives of every order stay fast on CPU.
//
// LibTorch 1.13's formulas for some derivatives are slow for Hessian-vector
// products through a channels-last network: the double backward of torch::cat
// and of max pooling and the backward of global average pooling return
// contiguous (NCHW) gradients for channels-last inputs, and every later
// operation that mixes the two layouts runs 4-25x slower; ReLU's double
// backward builds a zero tensor for the mask's (zero) derivative and adds it.
// Each function here computes what LibTorch computes, as the same function
// of its inputs; with that fast path off (nn/detail/fast_paths.hpp) each
// runs the plain LibTorch operation.
#include <torch/torch.h>

namespace cellscape::nn {

// The identity on `x`; every gradient flowing back through it, of any order,
// is converted to x's memory layout.
torch::Tensor keep_gradient_layout(const torch::Tensor& x);

// torch::relu(x). Its derivative masks by the output; the mask itself gets
// no derivative (it is zero almost everywhere), instead of a zero tensor.
torch::Tensor rectify(const torch::Tensor& x);

// torch::cat(parts, 1) for 4-D maps, whose derivatives split and concatenate
// in the parts' memory layout.
torch::Tensor concatenate_channels(at::TensorList parts);

}  // namespace cellscape::nn
