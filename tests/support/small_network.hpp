#pragma once
// The configuration of the small DARTS networks the tests build.
#include <array>
#include <cstdint>

#include "cellscape/nn/network_config.hpp"

namespace cellscape::testing {

inline nn::NetworkConfig small_config(int64_t channels, int64_t layers, std::array<int64_t, 3> input,
                                      int64_t classes = 10) {
    nn::NetworkConfig config;
    config.init_channels = channels;
    config.layers = layers;
    config.classes = classes;
    config.input_shape = input;
    return config;
}

}  // namespace cellscape::testing
