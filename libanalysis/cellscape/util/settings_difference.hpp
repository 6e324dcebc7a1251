#pragma once
// Comparing the settings an output was made with (as JSON objects) with the
// settings of a rerun, to say which one changed.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace cellscape {

// The first key of `wanted` whose value differs in `stored`, as a phrase
// ("learning_rate was 0.025, the config now says 0.05"), or else the first
// key only `stored` has (recorded because it was not at its default); none
// when equal.
// `now` names where the new value comes from ("the config", "this run").
std::optional<std::string> settings_difference(const nlohmann::json& stored, const nlohmann::json& wanted,
                                               const std::string& now = "the config");

}  // namespace cellscape
