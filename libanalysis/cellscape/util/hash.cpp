#include "cellscape/util/hash.hpp"

#include <fmt/format.h>

namespace cellscape {

std::string Fnv1a::hex() const { return fmt::format("fnv1a64:{:016x}", state_); }

}  // namespace cellscape
