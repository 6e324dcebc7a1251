// Reading a table of cells (rank/cell_table.hpp): CSV quoting, headers,
// columns by name or position, JSON lines, duplicates and bad rows.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

#include "cellscape/rank/cell_table.hpp"
#include "cellscape/util/error.hpp"
#include "support/temporary_directory.hpp"

using namespace cellscape;
using cellscape::testing::TemporaryDirectory;

namespace {

const char* darts_v2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
const char* chain =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 3), ('skip_connect', 0), ('skip_connect', 4), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))";

std::string quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::filesystem::path write(const TemporaryDirectory& dir, const std::string& name, const std::string& text) {
    const auto path = dir.path() / name;
    std::ofstream(path) << text;
    return path;
}

}  // namespace

TEST_CASE("a CSV with a header: quoted genotypes, columns by name or position, CRLF line ends") {
    const TemporaryDirectory dir;
    const auto path = write(dir, "t.csv",
                            std::string("name,genotype,valid_acc,note\r\n") + "a," + quoted(darts_v2) +
                                ",0.97,\"x, y\"\r\n" + "b," + quoted(chain) + ",0.95,\"say \"\"hi\"\"\"\r\n");
    CellTableOptions options;
    const CellTable table = read_cell_table(path, options);
    REQUIRE(table.cells.size() == 2);
    CHECK(table.genotype_column == "genotype");
    CHECK(table.value_names == std::vector<std::string>{"valid_acc"});  // "note" is not a number
    CHECK(table.cells[0].name == "a");
    CHECK(table.cells[1].values == std::vector<double>{0.95});
    CHECK(table.cells[1].lines == std::vector<int64_t>{3});
    CHECK(table.cells[0].genotype == parse_genotype(darts_v2).genotype);

    options.genotype_column = "2";
    options.values = {{"acc", "3"}};
    const CellTable by_position = read_cell_table(path, options);
    CHECK(by_position.value_names == std::vector<std::string>{"acc"});
    CHECK(by_position.cells[0].values == std::vector<double>{0.97});
}

TEST_CASE("a CSV without a header is recognized by its genotype field") {
    const TemporaryDirectory dir;
    const auto path = write(dir, "t.csv", quoted(darts_v2) + ",0.9\n" + quoted(chain) + ",0.8\n");
    CellTableOptions options;
    options.genotype_column = "1";
    const CellTable table = read_cell_table(path, options);
    REQUIRE(table.cells.size() == 2);
    CHECK(table.value_names == std::vector<std::string>{"column 2"});
    CHECK(table.cells[0].name == "row 1");
}

TEST_CASE("JSON lines take the genotype as a string or as the JSON object") {
    const TemporaryDirectory dir;
    const std::string object = R"({"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1]], "normal_concat": [2],)"
                               R"( "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1]], "reduce_concat": [2]})";
    const auto path = write(dir, "t.jsonl",
                            std::string(R"({"arch": )") + nlohmann::json(darts_v2).dump() + R"(, "acc": 0.9})" + "\n\n" +
                                R"({"arch": )" + object + R"(, "acc": 0.5})" + "\n");
    const CellTable table = read_cell_table(path, {});
    REQUIRE(table.cells.size() == 2);
    CHECK(table.cells[1].genotype.normal.edges.size() == 2);
    CHECK(table.cells[1].lines == std::vector<int64_t>{3});
}

TEST_CASE("rows of one genotype are one cell with their mean, and bad rows stop the read unless skipped") {
    const TemporaryDirectory dir;
    const auto path = write(dir, "t.csv",
                            std::string("genotype,acc\n") + quoted(darts_v2) + ",0.9\n" + quoted(chain) + ",0.7\n" +
                                quoted("Genotype(normal=[('sep_conv_9x9', 0)])") + ",0.5\n" + quoted(darts_v2) + ",0.8\n" +
                                quoted(chain) + ",n/a\n");
    try {
        read_cell_table(path, {});
        FAIL("bad rows were accepted");
    } catch (const SettingError& error) {
        CHECK(error.setting() == "skip_bad");
        CHECK_THAT(error.problem(), Catch::Contains("line 4: genotype") && Catch::Contains("sep_conv_9x9") &&
                                        Catch::Contains("line 6: acc is 'n/a', not a finite number"));
    }
    CellTableOptions options;
    options.skip_bad = true;
    const CellTable table = read_cell_table(path, options);
    REQUIRE(table.cells.size() == 2);
    CHECK(table.bad_rows.size() == 2);
    CHECK(table.duplicate_rows == 1);
    CHECK(table.cells[0].lines == std::vector<int64_t>{2, 5});
    CHECK(table.cells[0].values[0] == Approx(0.85).epsilon(1e-15));
}

TEST_CASE("a column that is not there is named with the columns that are") {
    const TemporaryDirectory dir;
    const auto path = write(dir, "t.csv", std::string("genotype,acc\n") + quoted(darts_v2) + ",0.9\n");
    CellTableOptions options;
    options.values = {{"", "valid_acc"}};
    try {
        read_cell_table(path, options);
        FAIL("a missing column was accepted");
    } catch (const SettingError& error) {
        CHECK(error.setting() == "values");
        CHECK_THAT(error.problem(), Catch::Contains("'valid_acc' is not a column") && Catch::Contains("'acc'"));
    }
    CHECK_THROWS_WITH(read_cell_table(dir.path() / "missing.csv", {}), Catch::Contains("does not exist"));
}
