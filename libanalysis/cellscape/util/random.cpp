#include "cellscape/util/random.hpp"

#include "cellscape/util/error.hpp"

namespace cellscape {

std::uint64_t SeededRandom::below(std::uint64_t bound) {
    if (bound == 0) throw Error("internal: SeededRandom::below needs a positive bound");
    // Reject the top partial block so that `draw % bound` is uniform.
    const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % bound + 1) % bound;
    std::uint64_t draw = engine_();
    while (draw > limit) draw = engine_();
    return draw % bound;
}

}  // namespace cellscape
