#pragma once
// The configuration the benchmarks share (the issues' reference workload):
// DARTS_V2 with C=16 and 8 cells on 1x28x28 Fashion-MNIST, 2 threads.
#include <torch/torch.h>

#include <cstdlib>

#include "cells/zoo.hpp"
#include "nn/network.hpp"
#include "util/device.hpp"
#include "util/memory.hpp"

namespace cellscape::bench {

// As the cellscape binary runs; CELLSCAPE_BENCH_GLIBC_DEFAULTS=1 keeps
// glibc's allocator defaults instead, to measure what that tuning buys.
inline void configure_process() {
    static const bool configured = [] {
        if (!std::getenv("CELLSCAPE_BENCH_GLIBC_DEFAULTS")) keep_freed_memory_for_reuse();
        set_threads(2);
        return true;
    }();
    (void)configured;
}

inline nn::DartsNetwork benchmark_network() {
    configure_process();
    torch::manual_seed(0);
    nn::NetworkConfig config;
    config.init_channels = 16;
    config.layers = 8;
    config.classes = 10;
    config.input_shape = {1, 28, 28};
    return nn::DartsNetwork(find_in_zoo("DARTS_V2")->genotype, config);
}

}  // namespace cellscape::bench
