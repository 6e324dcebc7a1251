#include "cellscape/util/settings_difference.hpp"

#include <fmt/format.h>

namespace cellscape {

std::optional<std::string> settings_difference(const nlohmann::json& stored, const nlohmann::json& wanted,
                                               const std::string& now) {
    for (const auto& [key, value] : wanted.items()) {
        if (!stored.contains(key)) return fmt::format("{} is {} now and was not recorded", key, value.dump());
        if (stored.at(key) != value)
            return fmt::format("{} was {}, {} now says {}", key, stored.at(key).dump(), now, value.dump());
    }
    // A key recorded only when it is not the default (bn, cuda_float32):
    // the rerun is back at the default.
    if (stored.is_object())
        for (const auto& [key, value] : stored.items())
            if (!wanted.contains(key))
                return fmt::format("{} was {}, {} now leaves it at its default", key, value.dump(), now);
    return std::nullopt;
}

}  // namespace cellscape
