#include "cellscape/cells/operation.hpp"

namespace cellscape {

std::string_view operation_name(Operation op) {
    switch (op) {
        case Operation::none: return "none";
        case Operation::max_pool_3x3: return "max_pool_3x3";
        case Operation::avg_pool_3x3: return "avg_pool_3x3";
        case Operation::skip_connect: return "skip_connect";
        case Operation::sep_conv_3x3: return "sep_conv_3x3";
        case Operation::sep_conv_5x5: return "sep_conv_5x5";
        case Operation::dil_conv_3x3: return "dil_conv_3x3";
        case Operation::dil_conv_5x5: return "dil_conv_5x5";
        case Operation::sep_conv_7x7: return "sep_conv_7x7";
        case Operation::conv_7x1_1x7: return "conv_7x1_1x7";
    }
    return "?";
}

std::optional<Operation> operation_from_name(std::string_view name) {
    for (Operation op : all_operations)
        if (operation_name(op) == name) return op;
    return std::nullopt;
}

bool operation_has_weights(Operation op) {
    switch (op) {
        case Operation::sep_conv_3x3:
        case Operation::sep_conv_5x5:
        case Operation::sep_conv_7x7:
        case Operation::dil_conv_3x3:
        case Operation::dil_conv_5x5:
        case Operation::conv_7x1_1x7: return true;
        default: return false;
    }
}

}  // namespace cellscape
