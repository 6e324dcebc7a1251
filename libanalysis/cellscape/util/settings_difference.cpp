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
    return std::nullopt;
}

}  // namespace cellscape
