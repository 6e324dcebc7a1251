// A consumer that calls fmt itself, beside cellscape: it must compile against
// the fmt it links (the system's), not the newer fmt headers inside
// LibTorch's include directory (an undefined fmt::v12::vformat otherwise).
// Its CMake target asks for C++14; cellscape's headers need C++17
// (std::string_view), which the package's targets require.
#include <fmt/format.h>

#include <cellscape/analysis/objective.hpp>
#include <cellscape/cells/zoo.hpp>

#include <cstdio>

int main() {
    const std::string line = fmt::format("{} cells in the zoo, fmt {}", cellscape::genotype_zoo().size(), FMT_VERSION);
    std::puts(line.c_str());
    return line.empty() ? 1 : 0;
}
