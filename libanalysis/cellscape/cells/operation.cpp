#include "cellscape/cells/operation.hpp"

namespace cellscape {

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
