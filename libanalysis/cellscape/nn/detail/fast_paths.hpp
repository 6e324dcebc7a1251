#pragma once
// Which of the network's fast paths run, per thread: the reference they are
// checked and measured against, one at a time or all together.
//
// By default the DARTS network runs convolutions through nn::convolution
// (fast first and second derivatives), folds eval-mode BatchNorm into the
// preceding convolution, and keeps gradients in the feature maps' layout
// (nn/detail/fast_autograd.hpp). Each is the same function of the weights computed
// another way; switched off, the network runs LibTorch's own Conv2d,
// BatchNorm2d, ReLU and cat there. (The feature maps' layout itself,
// channels-last or NCHW, is the network's setting: set_memory_format.)
namespace cellscape::nn {

struct FastPaths {
    bool convolution_derivatives = true;  // nn::convolution instead of the Conv2d module
    bool batchnorm_folding = true;        // eval-mode BatchNorm folded into the convolution before it
    bool gradient_layout = true;          // layout-keeping concatenation, ReLU and guards
};

// This thread's setting.
FastPaths fast_paths();

// Sets this thread's fast paths while alive; restores the previous setting.
class FastPathsGuard {
public:
    explicit FastPathsGuard(FastPaths paths);
    ~FastPathsGuard();
    FastPathsGuard(const FastPathsGuard&) = delete;
    FastPathsGuard& operator=(const FastPathsGuard&) = delete;

private:
    FastPaths previous_;
};

// Every fast path off: LibTorch's own modules, the way PyTorch code runs the network.
class PlainOperationsGuard : public FastPathsGuard {
public:
    PlainOperationsGuard() : FastPathsGuard(FastPaths{false, false, false}) {}
};

}  // namespace cellscape::nn
