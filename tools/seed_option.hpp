#pragma once
// Every --seed on the command line goes through util/seed.hpp's rule before
// CLI11 converts it: -1 is refused rather than wrapped to 2^64 - 1, and
// 2^64 + 1 rather than saturated.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cellscape/util/error.hpp"
#include "cellscape/util/seed.hpp"
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

}  // namespace cellscape::tools
