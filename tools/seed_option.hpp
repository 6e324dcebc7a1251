#pragma once
// Every --seed on the command line goes through util/seed.hpp's rule before
// CLI11 converts it: -1 is refused rather than wrapped to 2^64 - 1, and
// 2^64 + 1 rather than saturated.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cellscape/util/error.hpp"
#include "cellscape/util/seed.hpp"
#include "cellscape/util/text.hpp"
#include "printable.hpp"

namespace cellscape::tools {

// For option->check(...): a SettingError ("seed"), which main() prints with the flag.
inline CLI::Validator seed_rule_check() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            if (!parse_seed(text))
                throw SettingError("seed", fmt::format("'{}' is not a seed: {}", printable(text), seed_rule()));
            return {};
        },
        "SEED");
}

// "1,2,3,4" -> {1, 2, 3, 4}: each field by the seed rule; SettingError
// `setting` naming the field otherwise.
inline std::vector<std::uint64_t> parse_seed_list(const std::string& text, const std::string& setting) {
    std::vector<std::uint64_t> seeds;
    for (const std::string& field : split_fields(text, ',')) {
        const auto seed = parse_seed(field);
        if (!seed)
            throw SettingError(setting, fmt::format("'{}' in '{}' is not a seed: {}; give seeds as 1,2,3,4",
                                                    printable(field), printable(text), seed_rule()));
        seeds.push_back(*seed);
    }
    return seeds;
}

}  // namespace cellscape::tools
