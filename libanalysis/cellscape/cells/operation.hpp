#pragma once
// The operations an edge of a cell can carry (docs/science.md section 1).
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

#include "cellscape/util/names.hpp"

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

template <>
struct EnumNames<Operation> {
    static constexpr std::array<std::pair<std::string_view, Operation>, 10> values{{
        {"none", Operation::none},
        {"max_pool_3x3", Operation::max_pool_3x3},
        {"avg_pool_3x3", Operation::avg_pool_3x3},
        {"skip_connect", Operation::skip_connect},
        {"sep_conv_3x3", Operation::sep_conv_3x3},
        {"sep_conv_5x5", Operation::sep_conv_5x5},
        {"dil_conv_3x3", Operation::dil_conv_3x3},
        {"dil_conv_5x5", Operation::dil_conv_5x5},
        {"sep_conv_7x7", Operation::sep_conv_7x7},
        {"conv_7x1_1x7", Operation::conv_7x1_1x7},
    }};
};

// Every operation, in EnumNames' order.
inline constexpr std::array<Operation, EnumNames<Operation>::values.size()> all_operations = [] {
    std::array<Operation, EnumNames<Operation>::values.size()> operations{};
    for (std::size_t i = 0; i < operations.size(); ++i) operations[i] = EnumNames<Operation>::values[i].second;
    return operations;
}();

// The seven primitives of the DARTS space other than `none`: what the sampler
// and the random-operation variant draw from, in this fixed order.
inline constexpr std::array<Operation, 7> sampled_operations = {
    Operation::max_pool_3x3, Operation::avg_pool_3x3, Operation::skip_connect,
    Operation::sep_conv_3x3, Operation::sep_conv_5x5, Operation::dil_conv_3x3,
    Operation::dil_conv_5x5,
};

// The operation's name in genotypes (DARTS's), and the operation a name is.
inline std::string_view operation_name(Operation op) { return name_of(op); }
inline std::optional<Operation> operation_from_name(std::string_view name) { return find_name<Operation>(name); }

// True when the operation has learnable weights on an edge of stride 1.
// (A stride-2 skip_connect becomes a factorized reduce, which also has
// weights; see edge_is_parameterized in metrics.hpp.)
bool operation_has_weights(Operation op);

}  // namespace cellscape
