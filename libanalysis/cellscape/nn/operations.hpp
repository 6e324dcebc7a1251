#pragma once
// The edge operations of the DARTS evaluation network (docs/science.md section 1),
// as LibTorch modules. Submodule names follow the DARTS code base, so a
// parameter's path reads like `cells.3.ops.1.op.2.weight`. Channel counts
// are one network's; with pack = K the module holds K networks' operations
// side by side, member-major (nn/packed_layout.hpp).
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <utility>

#include "cellscape/cells/operation.hpp"

namespace cellscape::nn {

// An edge's operation: one tensor in, one tensor out.
struct EdgeOperation : torch::nn::Module {
    virtual torch::Tensor forward(const torch::Tensor& input) = 0;
    // Operations that begin with a ReLU can take the rectified input instead,
    // so a cell rectifies each of its states once however many edges read it.
    virtual bool starts_with_relu() const { return false; }
    virtual torch::Tensor forward_rectified(const torch::Tensor& rectified) { return forward(rectified); }
    // Drop path skips identity edges (as in DARTS): dropping them would
    // delete the cell's shortcut rather than regularize an operation.
    virtual bool is_identity() const { return false; }
};

// ReLU, 1x1 (or kxk) convolution, BatchNorm: the cell preprocessing.
struct ReluConvBatchNorm : EdgeOperation {
    ReluConvBatchNorm(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
                      int64_t pack = 1);
    torch::Tensor forward(const torch::Tensor& input) override;
    bool starts_with_relu() const override { return true; }
    torch::Tensor forward_rectified(const torch::Tensor& rectified) override;
    torch::nn::Sequential op;
};

// Two stride-2 1x1 convolutions to out_channels/2 each, the second on the
// input shifted by one pixel, concatenated, then BatchNorm. Halves H and W
// (rounding up, also for odd sizes).
struct FactorizedReduce : EdgeOperation {
    FactorizedReduce(int64_t in_channels, int64_t out_channels, int64_t pack = 1);
    torch::Tensor forward(const torch::Tensor& input) override;
    bool starts_with_relu() const override { return true; }
    torch::Tensor forward_rectified(const torch::Tensor& rectified) override;
    torch::nn::Conv2d conv_1{nullptr}, conv_2{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
    int64_t pack = 1;
};

// Eval-mode BatchNorm as the per-channel affine map x * scale + shift, with
// scale = gamma / sqrt(var + eps) and shift = beta - mean * scale; `gamma`
// and `beta` may be undefined (affine=False: 1 and 0).
std::pair<torch::Tensor, torch::Tensor> eval_batch_norm_affine(const torch::Tensor& gamma, const torch::Tensor& beta,
                                                               const torch::Tensor& mean, const torch::Tensor& var,
                                                               double eps);

// Runs the modules of `sequence` from index `first` on `input`. Each
// convolution followed by an eval-mode BatchNorm runs as one convolution with
// the BatchNorm folded into its weights and bias (the same function and
// derivatives, one pass over the feature map fewer), and every convolution
// runs through nn::convolve, whose derivatives are fast (nn/convolution.hpp);
// with those fast paths off (nn/detail/fast_paths.hpp), the modules run as they are.
torch::Tensor run_sequence(torch::nn::Sequential sequence, std::size_t first, torch::Tensor input);

// The module for `op` on an edge with `channels` in and out and the given
// stride, for `pack` members side by side.
std::shared_ptr<EdgeOperation> make_edge_operation(Operation op, int64_t channels, int64_t stride, int64_t pack = 1);

}  // namespace cellscape::nn
