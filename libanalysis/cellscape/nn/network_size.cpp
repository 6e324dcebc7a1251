#include "cellscape/nn/network_size.hpp"

#include <fmt/format.h>

#include <vector>
#include <string>

#include "cellscape/util/error.hpp"

namespace cellscape::nn {
namespace {

// Convolutions have no bias; every BatchNorm is affine (2 parameters per channel).
int64_t batch_norm(int64_t c) { return 2 * c; }
int64_t relu_conv_batch_norm(int64_t in, int64_t out) { return in * out + batch_norm(out); }
int64_t factorized_reduce(int64_t in, int64_t out) { return 2 * in * (out / 2) + batch_norm(out); }

int64_t edge_parameters(Operation op, int64_t c, bool strided) {
    switch (op) {
        case Operation::none:
        case Operation::max_pool_3x3:
        case Operation::avg_pool_3x3: return 0;
        case Operation::skip_connect: return strided ? factorized_reduce(c, c) : 0;
        case Operation::sep_conv_3x3: return 2 * (9 * c + c * c + batch_norm(c));
        case Operation::sep_conv_5x5: return 2 * (25 * c + c * c + batch_norm(c));
        case Operation::sep_conv_7x7: return 2 * (49 * c + c * c + batch_norm(c));
        case Operation::dil_conv_3x3: return 9 * c + c * c + batch_norm(c);
        case Operation::dil_conv_5x5: return 25 * c + c * c + batch_norm(c);
        case Operation::conv_7x1_1x7: return 14 * c * c + batch_norm(c);
    }
    return 0;
}

// Multiply-adds of an edge at c channels whose output is `out` positions
// (height x width) and whose input is `in` positions: a separable
// convolution is twice a depthwise k x k (c k^2 per position) and a 1x1
// (c^2), both at the output's size (the first depthwise has the stride);
// the 1x7-7x1 pair runs its 1x7 with the stride along the width only, so
// at the input's height and the output's width (`in_height_out_width`).
int64_t edge_multiply_adds(Operation op, int64_t c, bool strided, int64_t out, int64_t in_height_out_width) {
    switch (op) {
        case Operation::none:
        case Operation::max_pool_3x3:
        case Operation::avg_pool_3x3: return 0;
        case Operation::skip_connect: return strided ? 2 * c * (c / 2) * out : 0;
        case Operation::sep_conv_3x3: return 2 * (9 * c + c * c) * out;
        case Operation::sep_conv_5x5: return 2 * (25 * c + c * c) * out;
        case Operation::sep_conv_7x7: return 2 * (49 * c + c * c) * out;
        case Operation::dil_conv_3x3: return (9 * c + c * c) * out;
        case Operation::dil_conv_5x5: return (25 * c + c * c) * out;
        case Operation::conv_7x1_1x7: return 7 * c * c * in_height_out_width + 7 * c * c * out;
    }
    return 0;
}

// Maps of the edge's output size an operation keeps for the backward pass.
int64_t kept_maps(Operation op, bool strided) {
    switch (op) {
        case Operation::none: return 0;
        case Operation::max_pool_3x3: return 3;  // the output and its int64 indices
        case Operation::avg_pool_3x3: return 1;
        case Operation::skip_connect: return strided ? 4 : 0;  // factorized reduce: ReLU, two convs, BN
        case Operation::sep_conv_3x3:
        case Operation::sep_conv_5x5:
        case Operation::sep_conv_7x7: return 8;  // twice ReLU, depthwise, pointwise, BN
        case Operation::dil_conv_3x3:
        case Operation::dil_conv_5x5:
        case Operation::conv_7x1_1x7: return 4;
    }
    return 0;
}

std::string gibibytes(double bytes) { return fmt::format("{:.1f} GiB", bytes / (1024.0 * 1024.0 * 1024.0)); }

}  // namespace

NetworkSize network_size(const Genotype& genotype, const NetworkConfig& config) {
    NetworkSize size;
    const int64_t stem = stem_channels(config);
    const int64_t height = config.input_shape[1], width = config.input_shape[2];
    size.parameters = config.input_shape[0] * stem * 9 + batch_norm(stem);
    size.activations_per_sample = stem * height * width;
    size.training_values_per_sample = 2 * stem * height * width;  // the stem's convolution and BatchNorm
    size.multiply_adds = config.input_shape[0] * 9 * stem * height * width;
    const std::vector<CellPlacement> placements = cell_placements(genotype, config);
    for (const CellPlacement& place : placements) {
        const Cell& cell = genotype.cell(place.type);
        const int64_t channels = place.channels, in_positions = place.in_height * place.in_width;
        const int64_t before_previous = place.before_previous, previous = place.previous;
        size.parameters += place.previous_was_reduction ? factorized_reduce(before_previous, channels)
                                                        : relu_conv_batch_norm(before_previous, channels);
        size.parameters += relu_conv_batch_norm(previous, channels);
        // The preprocessings work at the cell's input size (a reduction cell's edges reduce), except
        // the factorized reduce after a reduction cell, whose input is the size before that cell's.
        size.multiply_adds += (place.previous_was_reduction ? 2 * before_previous * (channels / 2)
                                                            : before_previous * channels) * in_positions +
                              previous * channels * in_positions;
        const int64_t positions = place.height * place.width;
        int64_t maps = 6 + static_cast<int64_t>(cell.concat.size()) * 2;  // preprocessings; node sums and the concat
        for (const Edge& edge : cell.edges) {
            const bool strided = place.reduction() && edge.source < 2;
            size.parameters += edge_parameters(edge.op, channels, strided);
            maps += kept_maps(edge.op, strided);
            size.multiply_adds +=
                edge_multiply_adds(edge.op, channels, strided, positions, (strided ? place.in_height : place.height) * place.width);
        }
        size.training_values_per_sample += maps * channels * positions;
        size.activations_per_sample += place.output_channels * positions;
        if (place.auxiliary_after) {
            const int64_t side_height = place.height >= 5 ? (place.height - 5) / 3 : 0;
            const int64_t side_width = place.width >= 5 ? (place.width - 5) / 3 : 0;
            size.auxiliary_parameters = place.output_channels * 128 + batch_norm(128) + 128 * 768 * 4 + batch_norm(768) +
                                        768 * side_height * side_width * config.classes + config.classes;
        }
    }
    const int64_t last = placements.empty() ? stem : placements.back().output_channels;  // the classifier's input
    size.parameters += last * config.classes + config.classes;
    size.multiply_adds += last * config.classes;
    return size;
}

void require_fits_in_memory(const NetworkSize& size, const NetworkConfig& config, int64_t batch_size,
                            int64_t bytes_per_value, bool training, int64_t available_bytes) {
    // Training keeps each parameter's value, gradient and momentum, and a
    // copy when it saves a checkpoint; evaluation the value alone.
    const double parameter_bytes = static_cast<double>(size.parameters + size.auxiliary_parameters) *
                                   static_cast<double>(bytes_per_value) * (training ? 4.0 : 1.0);
    const auto available = static_cast<double>(available_bytes);
    if (parameter_bytes > available)
        throw SettingError("init_channels",
                           fmt::format("{} channels and {} cells make a network of {} parameters, which need {} "
                                       "{}; this machine has {} available: use fewer channels or cells",
                                       config.init_channels, config.layers, size.parameters,
                                       gibibytes(parameter_bytes), training ? "to train" : "to evaluate",
                                       gibibytes(available)));
    // A forward pass holds at least every cell's output; a training step
    // every operation's maps (NetworkSize::training_values_per_sample).
    const double activation_bytes =
        static_cast<double>(training ? size.training_values_per_sample : size.activations_per_sample) *
        static_cast<double>(batch_size) * static_cast<double>(bytes_per_value);
    if (parameter_bytes + activation_bytes > available)
        throw SettingError("batch_size",
                           fmt::format("batches of {} need about {} of feature maps in this network ({} channels, "
                                       "{} cells, {}x{}x{} inputs) besides {} of parameters; this machine has {} "
                                       "available: use smaller batches",
                                       batch_size, gibibytes(activation_bytes), config.init_channels, config.layers,
                                       config.input_shape[0], config.input_shape[1], config.input_shape[2],
                                       gibibytes(parameter_bytes), gibibytes(available)));
}

}  // namespace cellscape::nn
