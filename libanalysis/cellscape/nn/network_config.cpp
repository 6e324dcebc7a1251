#include "cellscape/nn/network_config.hpp"

#include <fmt/format.h>

#include <regex>

#include "cellscape/util/error.hpp"

namespace cellscape::nn {

nlohmann::json NetworkConfig::to_json() const {
    return {{"init_channels", init_channels}, {"layers", layers}, {"classes", classes},
            {"input_shape", input_shape},     {"auxiliary", auxiliary}};
}

NetworkConfig NetworkConfig::from_json(const nlohmann::json& json) {
    NetworkConfig config;
    config.init_channels = json.at("init_channels").get<int64_t>();
    config.layers = json.at("layers").get<int64_t>();
    config.classes = json.at("classes").get<int64_t>();
    config.input_shape = json.at("input_shape").get<std::array<int64_t, 3>>();
    config.auxiliary = json.at("auxiliary").get<bool>();
    return config;
}

std::array<int64_t, 3> parse_input_shape(const std::string& text) {
    static const std::regex form(R"((\d{1,6})x(\d{1,6})x(\d{1,6}))");
    std::smatch match;
    if (text.size() > 20 || !std::regex_match(text, match, form))
        throw SettingError("input_shape", fmt::format("'{}' is not CHANNELSxHEIGHTxWIDTH, e.g. 3x32x32", text));
    std::array<int64_t, 3> shape{std::stoll(match[1]), std::stoll(match[2]), std::stoll(match[3])};
    for (int64_t d : shape)
        if (d < 1) throw SettingError("input_shape", fmt::format("'{}' has a zero dimension", text));
    return shape;
}

void NetworkConfig::validate() const {
    // Beyond these the network is no DARTS network anyone trains, and sizes
    // computed from them could overflow.
    constexpr int64_t most_channels = 4096, most_layers = 1000, largest_side = 1 << 16;
    if (init_channels < 2 || init_channels % 2 != 0 || init_channels > most_channels)
        throw SettingError("init_channels", fmt::format("must be an even number from 2 to {} (got {}): reduction "
                                                        "cells split channels in half",
                                                        most_channels, init_channels));
    if (layers < 1 || layers > most_layers)
        throw SettingError("layers", fmt::format("must be between 1 and {} (got {})", most_layers, layers));
    if (classes < 2) throw SettingError("classes", fmt::format("must be at least 2 (got {})", classes));
    for (int64_t side : input_shape)
        if (side < 1 || side > largest_side)
            throw SettingError("input_shape", fmt::format("{}x{}x{} has a side outside 1 to {}", input_shape[0],
                                                          input_shape[1], input_shape[2], largest_side));
}

std::vector<CellPlacement> cell_placements(const Genotype& genotype, const NetworkConfig& config) {
    std::vector<CellPlacement> placements;
    int64_t before_previous = stem_channels(config), previous = stem_channels(config), channels = config.init_channels;
    int64_t height = config.input_shape[1], width = config.input_shape[2];
    bool previous_was_reduction = false;
    for (int64_t layer = 0; layer < config.layers; ++layer) {
        CellPlacement placement;
        placement.layer = layer;
        placement.in_height = height;
        placement.in_width = width;
        if (layer == config.layers / 3 || layer == 2 * config.layers / 3) {
            placement.type = CellType::reduce;
            channels *= 2;
            height = (height - 1) / 2 + 1;
            width = (width - 1) / 2 + 1;
        }
        placement.previous_was_reduction = previous_was_reduction;
        placement.before_previous = before_previous;
        placement.previous = previous;
        placement.channels = channels;
        placement.output_channels = channels * static_cast<int64_t>(genotype.cell(placement.type).concat.size());
        placement.height = height;
        placement.width = width;
        placement.auxiliary_after = config.auxiliary && layer == 2 * config.layers / 3;
        placements.push_back(placement);
        before_previous = previous;
        previous = placement.output_channels;
        previous_was_reduction = placement.reduction();
    }
    return placements;
}

}  // namespace cellscape::nn
