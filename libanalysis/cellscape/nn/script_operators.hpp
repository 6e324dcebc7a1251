#pragma once
// cellscape's fast operators inside a TorchScript module's graph.
//
// A traced or scripted module runs LibTorch's own convolution, batch-norm,
// ReLU and concatenation, whose generic double-backward formulas make a
// Hessian-vector product through a DARTS export cost about 3x what it costs
// through the native network (docs/performance.md). This rewrites the
// module's forward graph, before it first runs, so that those nodes call the
// operators the native network uses (nn/convolution.hpp, nn/detail/fast_autograd.hpp),
// registered as TorchScript operators in the `cellscape` namespace:
//
//   aten::_convolution / aten::conv2d  -> cellscape::convolution
//   convolution, then eval batch_norm   -> cellscape::convolution_batch_norm
//                                          (folded: w * scale, bias * scale + shift)
//   other eval batch_norm               -> cellscape::batch_norm_eval (x * scale + shift)
//   aten::relu                          -> cellscape::rectify
//   aten::cat                           -> cellscape::concatenate
//
// with scale = gamma / sqrt(var + eps) and shift = beta - mean * scale.
// Each replacement is the same function of the same parameters (so the same
// gradient and Hessian, up to rounding), and each operator falls back to the
// LibTorch operation for inputs outside its fast case (not 4-D, a transposed
// convolution). Only nodes whose meaning is fixed in the graph are touched:
// a batch_norm whose `training` flag is not a constant false (a scripted
// module's self.training), in-place ReLUs and transposed convolutions stay.
#include <torch/csrc/jit/api/module.h>

#include <string>

namespace cellscape::nn {

// How many nodes of each kind were replaced.
struct ScriptRewrite {
    int convolutions = 0;           // into cellscape::convolution (with or without a folded batch norm)
    int folded_batch_norms = 0;     // batch norms folded into the convolution before them
    int batch_norms = 0;            // other eval batch norms, as a per-channel affine map
    int rectifiers = 0;             // aten::relu
    int concatenations = 0;         // aten::cat
    int total() const { return convolutions + folded_batch_norms + batch_norms + rectifiers + concatenations; }
    // "as saved" when nothing was replaced, else what was, e.g. "cellscape's
    // operators for 151 convolutions (83 with their batch norm folded in), ...".
    std::string describe() const;
};

// Inlines `module`'s forward method and replaces its nodes as above. Call it
// once, before the module first runs (the executor compiles the graph then).
ScriptRewrite use_fast_operators(torch::jit::Module& module);

// Where a forward pass shows itself to this thread's nn::ForwardObserver
// (nn/forward_observer.hpp): an identity operator before every ReLU
// (aten::relu, aten::relu_, cellscape::rectify), and one after every
// convolution and linear layer (aten::_convolution, aten::conv2d,
// aten::linear, cellscape::convolution) that the observer may replace. A
// convolution with an eval batch norm folded in (use_fast_operators) keeps
// its own output hidden. Like the rewrite: once, before the module first runs.
struct ScriptObservation {
    int rectifiers = 0;     // ReLUs whose input is shown
    int layers = 0;         // convolutions and linear layers whose output is shown
    int hidden_layers = 0;  // convolutions whose output a folded batch norm hides
};
ScriptObservation add_observation_points(torch::jit::Module& module);

}  // namespace cellscape::nn
