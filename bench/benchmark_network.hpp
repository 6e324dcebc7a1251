#pragma once
// The configuration the benchmarks share (the issues' reference workload):
// DARTS_V2 with C=16 and 8 cells on 1x28x28 Fashion-MNIST, 2 threads.
#include <torch/torch.h>

#include "cells/zoo.hpp"
#include "nn/network.hpp"
#include "util/device.hpp"

namespace cellscape::bench {

inline nn::DartsNetwork benchmark_network() {
    set_threads(2);
    torch::manual_seed(0);
    nn::NetworkConfig config;
    config.init_channels = 16;
    config.layers = 8;
    config.classes = 10;
    config.input_shape = {1, 28, 28};
    return nn::DartsNetwork(find_in_zoo("DARTS_V2")->genotype, config);
}

}  // namespace cellscape::bench
