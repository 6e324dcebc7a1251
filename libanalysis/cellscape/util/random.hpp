#pragma once
// Seeded random numbers whose output the C++ standard fixes exactly.
// std::mt19937_64 is specified bit for bit, but std::uniform_int_distribution
// is not, so cells sampled through it could differ between standard
// libraries. Everything that must be reproducible across machines and
// compilers draws through this class.
#include <cstdint>
#include <random>

namespace cellscape {

class SeededRandom {
public:
    explicit SeededRandom(std::uint64_t seed) : engine_(seed) {}

    // Uniform integer in [0, bound), by rejection so every value is equally
    // likely. bound must be positive.
    std::uint64_t below(std::uint64_t bound);

    // Uniform in [0, 1): the top 53 bits of one draw, exactly.
    double uniform();

    // Standard normal, by the Box-Muller transform of two uniform draws: as
    // reproducible as the C library's log, sqrt and cos (glibc's on every
    // Linux machine). For simulations, not for anything that names a cell.
    double normal();

private:
    std::mt19937_64 engine_;
};

}  // namespace cellscape
