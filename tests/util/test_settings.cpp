// Enumerated settings: one name table per enum, parsed in one place, with
// errors that name the setting and list what would do.
#include <catch2/catch.hpp>

#include "cellscape/analysis/objective_settings.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/names.hpp"

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
