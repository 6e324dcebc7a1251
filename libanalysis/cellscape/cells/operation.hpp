#pragma once
// The operations an edge of a cell can carry (docs/science.md section 1).
#include <array>
#include <optional>
#include <string_view>

namespace cellscape {

enum class Operation {
    none,
    max_pool_3x3,
    avg_pool_3x3,
    skip_connect,
    sep_conv_3x3,
    sep_conv_5x5,
    dil_conv_3x3,
    dil_conv_5x5,
    sep_conv_7x7,   // NASNet / AmoebaNet only
    conv_7x1_1x7,   // AmoebaNet only
};

inline constexpr std::array<Operation, 10> all_operations = {
    Operation::none,         Operation::max_pool_3x3, Operation::avg_pool_3x3,
    Operation::skip_connect, Operation::sep_conv_3x3, Operation::sep_conv_5x5,
    Operation::dil_conv_3x3, Operation::dil_conv_5x5, Operation::sep_conv_7x7,
    Operation::conv_7x1_1x7,
};

// The seven primitives of the DARTS space other than `none`: what the sampler
// and the random-operation variant draw from, in this fixed order.
inline constexpr std::array<Operation, 7> sampled_operations = {
    Operation::max_pool_3x3, Operation::avg_pool_3x3, Operation::skip_connect,
    Operation::sep_conv_3x3, Operation::sep_conv_5x5, Operation::dil_conv_3x3,
    Operation::dil_conv_5x5,
};

std::string_view operation_name(Operation op);
std::optional<Operation> operation_from_name(std::string_view name);

// True when the operation has learnable weights on an edge of stride 1.
// (A stride-2 skip_connect becomes a factorized reduce, which also has
// weights; see edge_is_parameterized in metrics.hpp.)
bool operation_has_weights(Operation op);

}  // namespace cellscape
