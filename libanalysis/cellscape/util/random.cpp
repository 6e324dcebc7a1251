#include "cellscape/util/random.hpp"

#include <cmath>

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

double SeededRandom::uniform() {
    return static_cast<double>(engine_() >> 11) * 0x1.0p-53;
}

double SeededRandom::normal() {
    // 1 - uniform() lies in (0, 1], so the logarithm is finite.
    const double radius = std::sqrt(-2.0 * std::log(1.0 - uniform()));
    return radius * std::cos(2.0 * M_PI * uniform());
}

}  // namespace cellscape
