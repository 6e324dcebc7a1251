// Enumerated settings: one name table per enum, parsed in one place, with
// errors that name the setting and list what would do.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <optional>

#include "cellscape/analysis/objective_settings.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/names.hpp"
#include "cellscape/util/settings_difference.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;

TEST_CASE("enum settings parse from their names and print back to them") {
    CHECK(parse_name<Split>("test", "split") == Split::test);
    CHECK(parse_name<BatchNormMode>("train", "bn_mode") == BatchNormMode::train);
    CHECK(parse_name<Precision>("float64", "dtype") == Precision::float64);
    CHECK(name_of(Sampling::sequential) == "sequential");
    for (const auto& [name, value] : EnumNames<Sampling>::values) CHECK(parse_name<Sampling>(name, "sampling") == value);
}

TEST_CASE("an unknown name is a setting error that names the setting and the valid names") {
    try {
        parse_name<BatchNormMode>("training", "bn_mode");
        FAIL("no error");
    } catch (const SettingError& error) {
        CHECK(error.setting() == "bn_mode");
        CHECK(error.problem() == "'training' is not one of: eval, train");
        CHECK(std::string(error.what()) == "bn_mode: 'training' is not one of: eval, train");
    }
}

TEST_CASE("a settings difference names a changed key, one recorded only then, and one back at its default") {
    const nlohmann::json stored = {{"samples", 128}, {"bn", "train"}};
    CHECK(settings_difference(stored, {{"samples", 64}, {"bn", "train"}}) ==
          std::optional<std::string>("samples was 128, the config now says 64"));
    // A key recorded only away from its default, and the rerun at the default again.
    CHECK(settings_difference(stored, {{"samples", 128}}) ==
          std::optional<std::string>("bn was \"train\", the config now leaves it at its default"));
    // A key newer than the file: not recorded then.
    CHECK(settings_difference({{"samples", 128}}, {{"samples", 128}, {"tol", 0.001}}) ==
          std::optional<std::string>("tol is 0.001 now and was not recorded"));
    CHECK_FALSE(settings_difference(stored, stored));
}
