#pragma once
// Enumerated settings and their names in files, configs and on the command
// line: one table per enum, one parse function for every front end.
//
//   template <> struct EnumNames<Split> {
//       static constexpr std::array<std::pair<std::string_view, Split>, 2> values{{{"train", Split::train}, ...}};
//   };
//   parse_name<Split>("test", "split")  -> Split::test
//   name_of(Split::test)                -> "test"
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "cellscape/util/error.hpp"

namespace cellscape {

template <typename Enum>
struct EnumNames;

// The names an enum's values are written as, separated by `separator`.
template <typename Enum>
std::string names_of(std::string_view separator = ", ") {
    std::string joined;
    for (const auto& [name, value] : EnumNames<Enum>::values) {
        if (!joined.empty()) joined += separator;
        joined += name;
    }
    return joined;
}

// The value called `text`, if one is.
template <typename Enum>
std::optional<Enum> find_name(std::string_view text) {
    for (const auto& [name, value] : EnumNames<Enum>::values)
        if (name == text) return value;
    return std::nullopt;
}

// The value called `text`; SettingError naming `setting` and the valid names otherwise.
template <typename Enum>
Enum parse_name(std::string_view text, const std::string& setting) {
    for (const auto& [name, value] : EnumNames<Enum>::values)
        if (name == text) return value;
    throw SettingError(setting, "'" + std::string(text) + "' is not one of: " + names_of<Enum>());
}

template <typename Enum>
std::string_view name_of(Enum value) {
    for (const auto& [name, candidate] : EnumNames<Enum>::values)
        if (candidate == value) return name;
    return "?";
}

}  // namespace cellscape
