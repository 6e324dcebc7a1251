#pragma once
// The reference the network's fast paths are checked and measured against.
//
// By default the network folds eval-mode BatchNorm into the preceding
// convolution, runs convolutions through nn::convolution and keeps gradients
// channels-last (nn/layout.hpp). While a PlainOperationsGuard is alive on a
// thread, the network there runs LibTorch's own Conv2d and BatchNorm2d
// modules instead: the same function, computed the plain way.
namespace cellscape::nn {

bool plain_operations();

class PlainOperationsGuard {
public:
    PlainOperationsGuard();
    ~PlainOperationsGuard();
    PlainOperationsGuard(const PlainOperationsGuard&) = delete;
    PlainOperationsGuard& operator=(const PlainOperationsGuard&) = delete;

private:
    bool previous_;
};

}  // namespace cellscape::nn
