#pragma once
// One rule for every seed cellscape takes, on the command line, in a cell
// spec (seed=S) or in a study file (seeds, [training] seed, [analysis]
// seed): a whole number from 0 to 2^63 - 1, the largest integer a TOML file
// can hold. Signs, spaces, fractions and larger numbers are refused, never
// wrapped (-1 becoming 2^64 - 1) or saturated.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cellscape {

inline constexpr std::uint64_t max_seed = 9223372036854775807ULL;

// The seed `text` spells, or nullopt when it breaks the rule.
inline std::optional<std::uint64_t> parse_seed(std::string_view text) {
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string_view::npos)
        return std::nullopt;
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > max_seed) return std::nullopt;
    return value;
}

// The rule, for error messages.
inline std::string seed_rule() { return "seeds are whole numbers from 0 to 9223372036854775807"; }

}  // namespace cellscape
