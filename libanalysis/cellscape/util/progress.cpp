#include "cellscape/util/progress.hpp"

#include <fmt/format.h>

#include <cmath>

namespace cellscape {

std::string format_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    const auto total = static_cast<int64_t>(std::llround(seconds));
    const int64_t hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
    return hours > 0 ? fmt::format("{}:{:02}:{:02}", hours, minutes, secs) : fmt::format("{}:{:02}", minutes, secs);
}

}  // namespace cellscape
