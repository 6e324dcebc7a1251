#pragma once
// The configuration the benchmarks share (the issues' reference workload):
// DARTS_V2 with C=16 and 8 cells on 1x28x28 Fashion-MNIST, 2 threads; and
// the variants of the network's fast paths each benchmark runs under.
#include <benchmark/benchmark.h>

#include <torch/torch.h>

#include <array>
#include <cstdlib>

#include "cellscape/cells/zoo.hpp"
#include "cellscape/nn/detail/fast_paths.hpp"
#include "cellscape/nn/network.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/memory.hpp"

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

// A benchmark's argument `variant` picks which fast paths run and the
// feature maps' layout: 0 is what cellscape runs, 1-3 switch one fast path
// off, 4 is LibTorch's own modules (the way PyTorch code runs the network),
// 5 and 6 the same two on NCHW maps.
struct Variant {
    const char* name;
    nn::FastPaths paths;
    torch::MemoryFormat layout;
};
inline constexpr std::array<Variant, 7> variants = {{
    {"cellscape", {true, true, true}, torch::MemoryFormat::ChannelsLast},
    {"no-convolution-derivatives", {false, true, true}, torch::MemoryFormat::ChannelsLast},
    {"no-batchnorm-folding", {true, false, true}, torch::MemoryFormat::ChannelsLast},
    {"no-gradient-layout", {true, true, false}, torch::MemoryFormat::ChannelsLast},
    {"plain", {false, false, false}, torch::MemoryFormat::ChannelsLast},
    {"cellscape-nchw", {true, true, true}, torch::MemoryFormat::Contiguous},
    {"plain-nchw", {false, false, false}, torch::MemoryFormat::Contiguous},
}};

// Applies variant `index` to `network` (its layout) and to this thread (its
// fast paths) for the benchmark's lifetime, and labels the benchmark with it.
class VariantScope {
public:
    VariantScope(benchmark::State& state, int64_t index, nn::DartsNetwork& network)
        : variant_(variants.at(static_cast<std::size_t>(index))), network_(network), paths_(variant_.paths) {
        network_->set_memory_format(variant_.layout);
        state.SetLabel(variant_.name);
    }
    ~VariantScope() { network_->set_memory_format(torch::MemoryFormat::ChannelsLast); }
    VariantScope(const VariantScope&) = delete;
    VariantScope& operator=(const VariantScope&) = delete;

private:
    Variant variant_;
    nn::DartsNetwork& network_;
    nn::FastPathsGuard paths_;
};

// Registers the benchmark once per variant.
inline void all_variants(benchmark::internal::Benchmark* benchmark) {
    for (std::size_t i = 0; i < variants.size(); ++i) benchmark->Arg(static_cast<int64_t>(i));
}

}  // namespace cellscape::bench
