#pragma once
// The size of a DARTS evaluation network. Torch-free, so that the command
// line and the cells code can talk about networks without LibTorch's headers.
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>

#include "cellscape/cells/genotype.hpp"

namespace cellscape::nn {

struct NetworkConfig {
    int64_t init_channels = 16;                 // C
    int64_t layers = 8;                         // cells
    int64_t classes = 10;
    std::array<int64_t, 3> input_shape{3, 32, 32};  // channels x height x width
    bool auxiliary = false;

    nlohmann::json to_json() const;
    static NetworkConfig from_json(const nlohmann::json& json);
    // SettingError naming the field that no network can be built with.
    void validate() const;
};

// "3x32x32" -> {3, 32, 32}; SettingError "input_shape" naming the expected form.
std::array<int64_t, 3> parse_input_shape(const std::string& text);

// What `cellscape network` prints: config, parameter counts (without and of
// the auxiliary head), and per cell its type, channels and output size.
nlohmann::ordered_json network_summary(const std::string& name, const Genotype& genotype, const NetworkConfig& config);

}  // namespace cellscape::nn
