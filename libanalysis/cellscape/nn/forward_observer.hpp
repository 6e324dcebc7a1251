#pragma once
// What a forward pass shows of itself, per thread: the zero-cost proxies
// that are statistics of a network's layers (NASWOT: the sign patterns
// entering its ReLUs; Fisher: each layer output's gradient) watch a forward
// pass through an observer instead of module hooks, which LibTorch's C++
// modules do not have.
//
// While an observer is set, the DARTS network (nn/network.hpp) and a
// TorchScript module loaded by cellscape (nn/script_operators.hpp) call it
//
//   rectifier_input   with the input of every ReLU, once per module of the
//                     DARTS code's network that NASWOT's reference code
//                     hooks: the DARTS code gives each operation its own
//                     ReLU module, so a state read by three edges that
//                     start with a ReLU is shown three times, though
//                     cellscape rectifies it once; and the reference hooks
//                     every module whose type name contains "ReLU", which
//                     includes the ReLUConvBN preprocessings, whose input
//                     is their ReLU's: it is shown twice;
//   layer_output      with the output of every convolution and linear layer
//                     (before any BatchNorm) and its weight, and continues
//                     with what it returns (the output, or a function of it
//                     whose derivative the observer wants).
//
// and runs without the shortcuts that would hide those tensors: shared
// ReLUs across cells and BatchNorm folded into convolutions.
#include <torch/types.h>

namespace cellscape::nn {

class ForwardObserver {
public:
    virtual ~ForwardObserver() = default;
    virtual void rectifier_input(const torch::Tensor& input) = 0;
    virtual torch::Tensor layer_output(const torch::Tensor& weight, const torch::Tensor& output) = 0;
};

// This thread's observer, or nullptr.
ForwardObserver* forward_observer();

// Sets this thread's observer while alive; restores the previous one.
class ForwardObserverGuard {
public:
    explicit ForwardObserverGuard(ForwardObserver& observer);
    ~ForwardObserverGuard();
    ForwardObserverGuard(const ForwardObserverGuard&) = delete;
    ForwardObserverGuard& operator=(const ForwardObserverGuard&) = delete;

private:
    ForwardObserver* previous_;
};

// Shows `input` to this thread's observer as a ReLU's input, if one is set.
void observe_rectifier_input(const torch::Tensor& input);

// `output` as this thread's observer returns it, or `output` when none is set.
torch::Tensor observe_layer_output(const torch::Tensor& weight, const torch::Tensor& output);

}  // namespace cellscape::nn
