// Genotype parsing and printing: round trips and every class of malformed input.
#include <catch2/catch.hpp>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/cells/sampling.hpp"
#include "cellscape/cells/zoo.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;

namespace {

const char* const darts_v2_text =
    "DARTS_V2 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=[2, 3, 4, 5])";

// A small valid genotype to mutate: two nodes per cell.
const char* const small_text =
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 2), ('avg_pool_3x3', 0)], "
    "normal_concat=[2, 3], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('dil_conv_5x5', 1)], reduce_concat=[2, 3])";

std::string parse_error_of(const std::string& text) {
    try {
        parse_genotype(text);
    } catch (const Error& error) {
        return error.what();
    }
    FAIL("expected a parse error for: " << text);
    return {};
}

}  // namespace

TEST_CASE("every zoo cell survives a round trip through the text and the JSON form") {
    REQUIRE(genotype_zoo().size() == 6);
    for (const auto& cell : genotype_zoo()) {
        INFO(cell.name);
        CHECK(parse_genotype_text(format_genotype(cell.genotype)).genotype == cell.genotype);
        CHECK(parse_genotype_json(format_genotype_json(cell.genotype)).genotype == cell.genotype);
    }
}

TEST_CASE("sampled cells survive a round trip through the text and the JSON form") {
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        for (const Genotype& genotype : sample_genotypes(2, seed, 2 + static_cast<int>(seed % 5))) {
            CHECK(parse_genotype(format_genotype(genotype)).genotype == genotype);
            CHECK(parse_genotype(format_genotype_json(genotype)).genotype == genotype);
        }
    }
}

TEST_CASE("the text form prints exactly as the DARTS code base does") {
    const auto parsed = parse_genotype_text(darts_v2_text);
    REQUIRE(parsed.name == std::optional<std::string>("DARTS_V2"));
    CHECK("DARTS_V2 = " + format_genotype(parsed.genotype) == darts_v2_text);
}

TEST_CASE("the text parser accepts the published variations of the form") {
    const Genotype expected = parse_genotype_text(small_text).genotype;
    SECTION("double quotes, newlines and extra whitespace") {
        const std::string text =
            "  Genotype(\n  normal = [ (\"sep_conv_3x3\", 0 ), (\"skip_connect\",1),\n"
            "    (\"max_pool_3x3\", 2), (\"avg_pool_3x3\", 0) ],\n  normal_concat = [2,3],\n"
            "  reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('dil_conv_5x5', 1)],\n"
            "  reduce_concat = [2, 3]\n)\n";
        CHECK(parse_genotype_text(text).genotype == expected);
    }
    SECTION("concat written as range(a, b)") {
        std::string text = small_text;
        text.replace(text.find("normal_concat=[2, 3]"), 20, "normal_concat=range(2, 4)");
        CHECK(parse_genotype_text(text).genotype == expected);
    }
    SECTION("keyword arguments in another order, trailing commas") {
        const std::string text =
            "G = Genotype(reduce_concat=[2, 3,], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), "
            "('skip_connect', 2), ('dil_conv_5x5', 1),], normal_concat=[2, 3], normal=[('sep_conv_3x3', 0), "
            "('skip_connect', 1), ('max_pool_3x3', 2), ('avg_pool_3x3', 0)],)";
        const auto parsed = parse_genotype_text(text);
        CHECK(parsed.genotype == expected);
        CHECK(parsed.name == std::optional<std::string>("G"));
    }
    SECTION("positional arguments") {
        const std::string text =
            "Genotype([('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 2), ('avg_pool_3x3', 0)], "
            "[2, 3], [('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('dil_conv_5x5', 1)], "
            "range(2, 4))";
        CHECK(parse_genotype_text(text).genotype == expected);
    }
}

TEST_CASE("malformed genotype text gets an error naming the problem and its position") {
    const std::string text = small_text;
    auto with = [&](const std::string& from, const std::string& to) {
        std::string mutated = text;
        mutated.replace(mutated.find(from), from.size(), to);
        return mutated;
    };
    SECTION("unknown operation, pointing at its name") {
        const auto message = parse_error_of(with("'skip_connect', 1", "'skip_conect', 1"));
        CHECK_THAT(message, Contains("unknown operation 'skip_conect'"));
        CHECK_THAT(message, Contains("line 1, column 40"));
    }
    SECTION("source index that is not an earlier node") {
        const auto message = parse_error_of(with("('max_pool_3x3', 2)", "('max_pool_3x3', 3)"));
        CHECK_THAT(message, Contains("normal edge 2 (into node 3) comes from node 3, which is not an earlier node"));
        CHECK_THAT(message, Contains("line 1, column 77"));
    }
    SECTION("negative source index") {
        CHECK_THAT(parse_error_of(with("('skip_connect', 1)", "('skip_connect', -1)")),
                   Contains("comes from node -1"));
    }
    SECTION("odd number of edges") {
        const auto message = parse_error_of(with(", ('avg_pool_3x3', 0)]", "]"));
        CHECK_THAT(message, Contains("the normal cell has 3 edges, an odd number"));
    }
    SECTION("concat naming a node that does not exist") {
        const auto message = parse_error_of(with("reduce_concat=[2, 3]", "reduce_concat=[2, 4]"));
        CHECK_THAT(message, Contains("reduce_concat names node 4, which does not exist"));
        CHECK_THAT(message, Contains("intermediate nodes of this cell are 2 to 3"));
    }
    SECTION("concat naming an input node, through range") {
        CHECK_THAT(parse_error_of(with("normal_concat=[2, 3]", "normal_concat=range(4)")),
                   Contains("normal_concat names node 0"));
    }
    SECTION("concat naming a node twice") {
        CHECK_THAT(parse_error_of(with("normal_concat=[2, 3]", "normal_concat=[3, 3]")),
                   Contains("normal_concat names node 3 twice"));
    }
    SECTION("empty cell") {
        const auto message = parse_error_of(
            with("reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('dil_conv_5x5', 1)]",
                 "reduce=[]"));
        CHECK_THAT(message, Contains("the reduce cell is empty"));
    }
    SECTION("empty concat") {
        CHECK_THAT(parse_error_of(with("normal_concat=[2, 3]", "normal_concat=[]")),
                   Contains("normal_concat is empty"));
    }
    SECTION("missing field") {
        CHECK_THAT(parse_error_of(with(", reduce_concat=[2, 3]", "")), Contains("`reduce_concat` is missing"));
    }
    SECTION("field given twice") {
        CHECK_THAT(parse_error_of(with("normal_concat=[2, 3]", "normal_concat=[2, 3], normal_concat=[2, 3]")),
                   Contains("`normal_concat` is given twice"));
    }
    SECTION("unknown field") {
        CHECK_THAT(parse_error_of(with("normal_concat", "normal_concatenate")),
                   Contains("unknown field `normal_concatenate`"));
    }
    SECTION("not a genotype at all") {
        CHECK_THAT(parse_error_of("hello"), Contains("expected `Genotype(`"));
        CHECK_THAT(parse_error_of(""), Contains("line 1, column 1"));
    }
    SECTION("text after the closing parenthesis") {
        CHECK_THAT(parse_error_of(text + " extra"), Contains("unexpected text after the closing"));
    }
    SECTION("unterminated string, on the second line") {
        const auto message = parse_error_of("Genotype(\nnormal=[('sep_conv_3x3, 0)])");
        CHECK_THAT(message, Contains("unterminated string"));
        CHECK_THAT(message, Contains("line 2, column 10"));
    }
    SECTION("truncated text") {
        CHECK_THAT(parse_error_of(text.substr(0, 60)), Contains("genotype text, line 1"));
    }
}

TEST_CASE("the JSON form reads back what it writes and names the path of a problem") {
    const Genotype genotype = parse_genotype_text(small_text).genotype;
    const std::string json = format_genotype_json(genotype);
    CHECK(json ==
          R"({"normal":[["sep_conv_3x3",0],["skip_connect",1],["max_pool_3x3",2],["avg_pool_3x3",0]],)"
          R"("normal_concat":[2,3],"reduce":[["max_pool_3x3",0],["max_pool_3x3",1],["skip_connect",2],)"
          R"(["dil_conv_5x5",1]],"reduce_concat":[2,3]})");
    CHECK(parse_genotype(json).genotype == genotype);

    auto json_error = [](const std::string& text) {
        try {
            parse_genotype_json(text);
        } catch (const Error& error) {
            return std::string(error.what());
        }
        return std::string("no error");
    };
    CHECK_THAT(json_error("{\"normal\": [}"), Contains("not valid JSON"));
    CHECK_THAT(json_error(R"({"normal": [["sep_conv_3x3", 0], ["bogus", 1]], "normal_concat": [2],
                              "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1]], "reduce_concat": [2]})"),
               Contains("at normal[1]: unknown operation 'bogus'"));
    CHECK_THAT(json_error(R"({"normal": [["sep_conv_3x3", 0], ["skip_connect", 1]], "normal_concat": [2]})"),
               Contains("\"reduce\" is missing"));
    CHECK_THAT(json_error(R"({"normal": [["sep_conv_3x3", 0], ["skip_connect", 2]], "normal_concat": [2],
                              "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1]], "reduce_concat": [2]})"),
               Contains("normal edge 1 (into node 2) comes from node 2"));
    CHECK_THAT(json_error("[1, 2]"), Contains("must be an object"));
    // Found by the fuzzer: a number no JSON type can hold.
    CHECK_THAT(json_error(R"({"normal": 3333333333333333333333E3333333})"), Contains("genotype JSON cannot be read"));
}

TEST_CASE("the JSON a cell report prints is accepted as a genotype") {
    const std::string report = std::string(R"({"name": "mine", "genotype": ")") + small_text + "\"}";
    const auto parsed = parse_genotype(report);
    CHECK(parsed.name == std::optional<std::string>("mine"));
    CHECK(parsed.genotype == parse_genotype_text(small_text).genotype);
}
