#pragma once
// The size of a DARTS evaluation network. Torch-free, so that the command
// line and the cells code can talk about networks without LibTorch's headers.
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

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

// Where the DARTS evaluation network places each of its cells: the one walk
// of its layers that the network (nn/network.hpp) and its size
// (nn/network_size.hpp) both follow. After a stem of 3C channels at the
// input's size come `layers` cells; those at layers/3 and 2*layers/3 are
// reduction cells, which double the node channels and halve the feature
// maps ((side - 1) / 2 + 1, a stride-2 3x3 convolution's output). A cell's
// inputs are the two cells before it (the stem counts for both before the
// first); after a reduction cell the next cell's first input is at the
// size before it, and a factorized reduce brings it down.
struct CellPlacement {
    int64_t layer = 0;
    CellType type = CellType::normal;  // reduction cells are CellType::reduce
    bool previous_was_reduction = false;
    int64_t before_previous = 0, previous = 0;  // channels of the two inputs
    int64_t channels = 0;                       // node channels (C, doubled at each reduction)
    int64_t output_channels = 0;                // channels times the concat length
    int64_t in_height = 0, in_width = 0;        // the inputs' size (the previous cell's output)
    int64_t height = 0, width = 0;              // the nodes' and output's size
    bool auxiliary_after = false;               // the auxiliary head reads this cell's output (config.auxiliary)
    bool reduction() const { return type == CellType::reduce; }
};
std::vector<CellPlacement> cell_placements(const Genotype& genotype, const NetworkConfig& config);
inline int64_t stem_channels(const NetworkConfig& config) { return 3 * config.init_channels; }

// "3x32x32" -> {3, 32, 32}; SettingError "input_shape" naming the expected form.
std::array<int64_t, 3> parse_input_shape(const std::string& text);

// What `cellscape network` prints: config, parameter counts (without and of
// the auxiliary head), and per cell its type, channels and output size.
nlohmann::ordered_json network_summary(const std::string& name, const Genotype& genotype, const NetworkConfig& config);

}  // namespace cellscape::nn
