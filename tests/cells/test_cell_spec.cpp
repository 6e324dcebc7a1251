// Resolving what a user types as CELL: zoo names, variant specs, text, JSON, files.
#include <catch2/catch.hpp>

#include "cellscape/cells/cell_spec.hpp"
#include "cellscape/cells/metrics.hpp"
#include "cellscape/cells/zoo.hpp"
#include "support/temporary_directory.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;

namespace {

std::string error_of(const std::string& spec) {
    try {
        resolve_cells(spec);
    } catch (const Error& error) {
        return error.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("zoo names are found whatever their case") {
    CHECK(resolve_cell("darts_v2").name == "DARTS_V2");
    CHECK(resolve_cell("AMOEBANET").genotype == find_in_zoo("AmoebaNet")->genotype);
    CHECK_THAT(error_of("DARTS_V3"), Contains("'DARTS_V3' is not a zoo cell"));
    CHECK_THAT(error_of("DARTS_V3"), Contains("(NASNet, AmoebaNet, DARTS_V1, DARTS_V2, ENAS, SNAS_MILD)"));
}

TEST_CASE("variant specs name their cells and apply the variant") {
    const auto chain = resolve_cell("DARTS_V2:chain");
    CHECK(chain.name == "DARTS_V2-chain-normal");
    CHECK(cell_metrics(chain.genotype.normal, CellType::normal).depth == 5);

    const auto random = resolve_cells("DARTS_V2:random-connections:count=3,seed=1");
    REQUIRE(random.size() == 3);
    CHECK(random[2].name == "DARTS_V2-random-connections-normal-s1-2");
    CHECK(resolve_cell("DARTS_V2:random-connections:seed=1").genotype == random[0].genotype);

    const auto both = resolve_cell("ENAS:widest:cells=both");
    CHECK(both.name == "ENAS-widest");
    CHECK(cell_metrics(both.genotype.reduce, CellType::reduce).depth == 2);

    const auto sampled = resolve_cells("random:count=2,seed=5,nodes=3");
    REQUIRE(sampled.size() == 2);
    CHECK(sampled[1].name == "random-s5-1");
    CHECK(sampled[0].genotype.normal.intermediate_nodes() == 3);
}

TEST_CASE("variants keep the base's reduction cell unless told cells=both or cells=reduce") {
    // One cell changes at a time: what a width study compares is the normal cell.
    for (const char* kind : {"widest", "chain", "random-connections", "random-ops"})
        for (const char* base : {"DARTS_V2", "ENAS", "AmoebaNet"}) {
            const std::string spec = std::string(base) + ":" + kind + ":seed=3";
            INFO(spec);
            const NamedGenotype variant = resolve_cell(spec);
            CHECK(variant.genotype.reduce == find_in_zoo(base)->genotype.reduce);
            CHECK(variant.genotype.normal != find_in_zoo(base)->genotype.normal);
            CHECK(resolve_cell(spec + ",cells=normal").genotype == variant.genotype);
            CHECK(resolve_cell(spec + ",cells=both").genotype.reduce != find_in_zoo(base)->genotype.reduce);
        }
}

TEST_CASE("a spec's population says which cells a study ranks together") {
    CHECK(cell_population("DARTS_V2") == "normal-connections");
    CHECK(cell_population("DARTS_V2:widest") == "normal-connections");
    CHECK(cell_population("DARTS_V2:stratified-connections:per_width=2,seed=1") == "normal-connections");
    CHECK(cell_population("DARTS_V2:chain:cells=both") == "both-connections");
    CHECK(cell_population("DARTS_V2:random-connections:cells=reduce,count=2") == "reduce-connections");
    CHECK(cell_population("DARTS_V2:random-ops:count=3,seed=12") == "operations");
    CHECK(cell_population("random:count=4,seed=1") == "random");
    CHECK(cell_population("@cells.txt") == "custom");
}

TEST_CASE("a spec that relied on the variants' former default names the spec that gives the old cells") {
    CHECK(former_default_spec("DARTS_V2:widest") == std::optional<std::string>("DARTS_V2:widest:cells=both"));
    CHECK(former_default_spec("DARTS_V2:random-connections:count=2,seed=1") ==
          std::optional<std::string>("DARTS_V2:random-connections:count=2,seed=1,cells=both"));
    CHECK(resolve_cell(*former_default_spec("DARTS_V2:chain")).name == "DARTS_V2-chain");
    CHECK_FALSE(former_default_spec("DARTS_V2:widest:cells=normal"));
    CHECK_FALSE(former_default_spec("DARTS_V2:stratified-connections:per_width=1"));
    CHECK_FALSE(former_default_spec("DARTS_V2"));
    CHECK_FALSE(former_default_spec("random:count=2"));
}

TEST_CASE("bad variant specs say what is wrong") {
    CHECK_THAT(error_of("DARTS_V2:longest"), Contains("unknown variant kind 'longest'"));
    CHECK_THAT(error_of("DARTS_V2:chain:depth=3"), Contains("option 'depth=3' is not understood"));
    CHECK_THAT(error_of("DARTS_V2:random-ops:seed=x"), Contains("seed=x is not a seed"));
    CHECK_THAT(error_of("DARTS_V2:random-ops:seed=-1"), Contains("seeds are whole numbers from 0 to"));
    CHECK_THAT(error_of("DARTS_V2:random-ops:seed=9223372036854775808"), Contains("seed=9223372036854775808 is not"));
    CHECK_THAT(error_of("DARTS_V2:random-ops:count=2,count=3"), Contains("option 'count' is given twice"));
    CHECK(resolve_cells("DARTS_V2:random-ops:seed=9223372036854775807").size() == 1);
    CHECK_THAT(error_of("DARTS_V2:random-ops:count=0"), Contains("count must be between 1 and 100000"));
    CHECK_THAT(error_of("DARTS_V2:chain:cells=both-ways"), Contains("cells=both-ways must be normal, reduce or both"));
    CHECK_THAT(error_of("  "), Contains("the cell is empty"));
    CHECK(resolve_cells("DARTS_V2:random-ops:count=2").size() == 2);
    try {
        resolve_cell("DARTS_V2:random-ops:count=2");
        FAIL("resolve_cell accepted two cells");
    } catch (const Error& error) {
        CHECK_THAT(error.what(), Contains("names 2 cells where one is expected"));
    }
}

TEST_CASE("genotype text and JSON are accepted inline") {
    const std::string text = "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], "
                             "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])";
    CHECK(resolve_cell(text).name == "custom");
    CHECK(resolve_cell("MINE = " + text).name == "MINE");
    const std::string json = R"({"name": "j", "normal": [["sep_conv_3x3", 0], ["skip_connect", 1]],
        "normal_concat": [2], "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1]], "reduce_concat": [2]})";
    CHECK(resolve_cell(json).name == "j");
    CHECK(resolve_cell(json).genotype == resolve_cell(text).genotype);
}

TEST_CASE("a genotypes.py-style file gives every genotype in it, in order") {
    const testing::TemporaryDirectory dir;
    const auto file = dir.write("genotypes.py",
                             "from collections import namedtuple\n"
                             "Genotype = namedtuple('Genotype', 'normal normal_concat reduce reduce_concat')\n"
                             "PRIMITIVES = ['none', 'max_pool_3x3']\n\n"
                             "# the first one, over several lines\n"
                             "FIRST = Genotype(\n"
                             "    normal=[('sep_conv_3x3', 0), ('skip_connect', 1)],  # node 2\n"
                             "    normal_concat=[2],\n"
                             "    reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)],\n"
                             "    reduce_concat=range(2, 3))\n" +
                                 std::string("SECOND = ") + format_genotype(find_in_zoo("ENAS")->genotype) + "\n");
    const auto cells = resolve_cells("@" + file.string());
    REQUIRE(cells.size() == 2);
    CHECK(cells[0].name == "FIRST");
    CHECK(cells[0].genotype.normal.edges.size() == 2);
    CHECK(cells[1].name == "SECOND");
    CHECK(cells[1].genotype == find_in_zoo("ENAS")->genotype);
}

TEST_CASE("a file's errors name the file and the statement's line") {
    const testing::TemporaryDirectory dir;
    const auto file = dir.write("bad.txt", "# comment\n\nBAD = Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2],"
                                        " reduce=[], reduce_concat=[2])\n");
    const auto message = error_of("@" + file.string());
    CHECK_THAT(message, Contains(file.string()));
    CHECK_THAT(message, Contains("statement starting on line 3"));
    CHECK_THAT(message, Contains("the normal cell has 1 edges, an odd number"));
    CHECK_THAT(error_of("@/nonexistent/cell.txt"), Contains("does not exist"));
    const auto empty = dir.write("empty.txt", "# nothing here\n");
    CHECK_THAT(error_of("@" + empty.string()), Contains("no genotype found"));
}

TEST_CASE("very long cell specs are refused with a sentence, not a crash") {
    // std::regex in the genotype reader overflowed the stack on lines of ~50 KB.
    const std::string huge(1 << 20, 'A');
    CHECK_THAT(error_of(huge), Contains("is not a zoo cell"));
    const std::string long_genotype = "X = Genotype(normal=[" + std::string(1 << 20, ' ') + "])";
    CHECK_THAT(error_of(long_genotype), !Contains("no error"));
    const testing::TemporaryDirectory directory;
    CHECK_THAT(error_of("@" + directory.write("huge.txt", huge + "\n").string()), Contains("no genotype found"));
    CHECK_THAT(error_of("@" + directory.write("long.txt", "  name_" + huge + " = Genotype (\n").string()),
               !Contains("no error"));
}

TEST_CASE("stratified connections: per_width cells at each width, normal cell rewired only") {
    const auto base = resolve_cell("DARTS_V2");
    const auto cells = resolve_cells("DARTS_V2:stratified-connections:per_width=2,seed=3,min_width=2,max_width=3.5");
    REQUIRE(cells.size() == 8);  // 2c, 2.5c, 3c, 3.5c
    for (std::size_t i = 0; i < cells.size(); ++i) {
        const double width = 2.0 + 0.5 * static_cast<double>(i / 2);
        // Measured independently of the generator's bookkeeping.
        CHECK(cell_metrics(cells[i].genotype.normal, CellType::normal).width == width);
        CHECK(cells[i].genotype.reduce == base.genotype.reduce);
        CHECK(cells[i].genotype.normal.concat == base.genotype.normal.concat);
        for (std::size_t e = 0; e < base.genotype.normal.edges.size(); ++e)  // operations kept, sources redrawn
            CHECK(cells[i].genotype.normal.edges[e].op == base.genotype.normal.edges[e].op);
    }
    CHECK(cells[0].name == "DARTS_V2-stratified-s3-2c-0");
    CHECK(cells[3].name == "DARTS_V2-stratified-s3-2.5c-1");
    // Seeded: the same spec gives the same cells, another seed others.
    const auto again = resolve_cells("DARTS_V2:stratified-connections:per_width=2,seed=3,min_width=2,max_width=3.5");
    const auto other = resolve_cells("DARTS_V2:stratified-connections:per_width=2,seed=4,min_width=2,max_width=3.5");
    bool same = true, different = false;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        same = same && again[i].genotype == cells[i].genotype;
        different = different || !(other[i].genotype == cells[i].genotype);
    }
    CHECK(same);
    CHECK(different);
    // Without bounds: every reachable width, 1c to 4c for four nodes.
    CHECK(resolve_cells("DARTS_V2:stratified-connections:seed=1").size() == 7);
}

TEST_CASE("stratified connections refuse widths the base cell cannot reach") {
    CHECK_THROWS_WITH(resolve_cells("DARTS_V2:stratified-connections:max_width=4.5"),
                      Contains("4.5c is not reachable") && Contains("1c to 4c"));
    CHECK_THROWS_WITH(resolve_cells("DARTS_V2:stratified-connections:min_width=0.5"), Contains("0.5c is not reachable"));
    CHECK_THROWS_WITH(resolve_cells("DARTS_V2:stratified-connections:min_width=2.2"), Contains("steps of 0.5c"));
    CHECK_THROWS_WITH(resolve_cells("DARTS_V2:stratified-connections:min_width=3,max_width=2"),
                      Contains("above max_width"));
    CHECK_THROWS_WITH(resolve_cells("DARTS_V2:stratified-connections:cells=both"), Contains("normal cell only"));
}
