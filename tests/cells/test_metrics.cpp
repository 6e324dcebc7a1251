// Width and depth (docs/science.md section 2), checked against counts done by hand.
#include <catch2/catch.hpp>

#include "cellscape/cells/metrics.hpp"
#include "cellscape/cells/zoo.hpp"

using namespace cellscape;

namespace {

CellMetrics metrics_of(const std::string& zoo_name, CellType type) {
    const auto cell = find_in_zoo(zoo_name);
    REQUIRE(cell);
    return cell_metrics(cell->genotype.cell(type), type);
}

Cell cell_from(std::vector<int> sources, std::vector<int> concat) {
    Cell cell;
    for (int source : sources) cell.edges.push_back({Operation::sep_conv_3x3, source});
    cell.concat = std::move(concat);
    return cell;
}

}  // namespace

// Each expectation was counted by hand from the genotype in data/zoo/genotypes.txt; the
// comment lists each node's two sources, the node's width share, and the
// longest path into it.
TEST_CASE("widths and depths of the zoo cells match hand counts") {
    struct Expected {
        const char* name;
        CellType type;
        double width;
        int depth;
    };
    const Expected expected[] = {
        // n2 (1,0) 1, n3 (0,0) 1, n4 (1,0) 1, n5 (0,0) 1, n6 (1,1) 1; all at depth 1.
        {"NASNet", CellType::normal, 5.0, 2},
        // n2 (1,0) 1, n3 (1,0) 1, n4 (1,0) 1, n5 (3,2) 0 at 2, n6 (2,1) .5 at 2; concat [4,5,6].
        {"NASNet", CellType::reduce, 3.5, 3},
        // n2 (0,1) 1, n3 (0,2) .5 at 2, n4 (0,3) .5 at 3, n5 (1,1) 1, n6 (0,1) 1; concat [4,5,6].
        {"AmoebaNet", CellType::normal, 4.0, 4},
        // n2 (0,1) 1, n3 (0,2) .5 at 2, n4 (0,1) 1, n5 (0,1) 1, n6 (0,5) .5 at 2; concat [3,4,6].
        {"AmoebaNet", CellType::reduce, 4.0, 3},
        // n2 (1,1), n3 (1,0), n4 (0,1), n5 (0,1), n6 (1,0): all full, depth 1.
        {"ENAS", CellType::normal, 5.0, 2},
        // n2 (0,1) 1, n3 (1,1) 1, n4 (1,1) 1, n5 (4,1) .5 at 2, n6 (5,0) .5 at 3; concat [2,3,6].
        {"ENAS", CellType::reduce, 4.0, 4},
        // n2 (1,0), n3 (0,1), n4 (0,1) full; n5 (0,2) .5 at 2.
        {"DARTS_V1", CellType::normal, 3.5, 3},
        // n2 (0,1) 1, n3 (2,0) .5, n4 (0,2) .5, n5 (2,0) .5; n3..n5 at 2.
        {"DARTS_V1", CellType::reduce, 2.5, 3},
        // n2 (0,1), n3 (0,1), n4 (1,0) full; n5 (0,2) .5 at 2.
        {"DARTS_V2", CellType::normal, 3.5, 3},
        // n2 (0,1) 1, n3 (2,1) .5, n4 (0,2) .5, n5 (2,1) .5; n3..n5 at 2.
        {"DARTS_V2", CellType::reduce, 2.5, 3},
        // n2..n5 all (0,1): 4 full nodes at depth 1.
        {"SNAS_MILD", CellType::normal, 4.0, 2},
        // n2 (0,1) 1, n3 (2,1) .5, n4 (1,2) .5, n5 (2,0) .5; n3..n5 at 2.
        {"SNAS_MILD", CellType::reduce, 2.5, 3},
    };
    for (const auto& e : expected) {
        INFO(e.name << " " << cell_type_name(e.type));
        const CellMetrics metrics = metrics_of(e.name, e.type);
        CHECK(metrics.width == e.width);
        CHECK(metrics.depth == e.depth);
    }
}

TEST_CASE("a node outside concat still counts for width and lies on paths through its successors") {
    // n2 (0,1) 1 at 1; n3 (2,2) 0 at 2; n4 (3,1) .5 at 3. Only n4 feeds the output.
    const CellMetrics metrics = cell_metrics(cell_from({0, 1, 2, 2, 3, 1}, {4}), CellType::normal);
    CHECK(metrics.width == 1.5);
    CHECK(metrics.depth == 4);
    CHECK(metrics.nodes == 3);
}

TEST_CASE("a node with no path to the output does not set the depth") {
    // n2 (0,0) 1 at 1; n3 (1,1) 1 at 1; n4 (2,0) .5 at 2 but not in concat and nothing consumes it.
    const CellMetrics metrics = cell_metrics(cell_from({0, 0, 1, 1, 2, 0}, {2, 3}), CellType::normal);
    CHECK(metrics.width == 2.5);
    CHECK(metrics.depth == 2);
}

TEST_CASE("operation histogram and parameterized edges") {
    const CellMetrics normal = metrics_of("DARTS_V2", CellType::normal);
    CHECK(normal.nodes == 4);
    CHECK(normal.operations == std::map<std::string, int>{{"sep_conv_3x3", 5}, {"skip_connect", 2},
                                                          {"dil_conv_3x3", 1}});
    CHECK(normal.parameterized_edges == 6);
    // DARTS_V2 reduce: max pools and skip_connects from node 2 (stride 1): no weights.
    CHECK(metrics_of("DARTS_V2", CellType::reduce).parameterized_edges == 0);
    // NASNet reduce: sep 5x5, sep 7x7, sep 7x7, sep 5x5, sep 3x3; skip_connect from node 3 has stride 1.
    CHECK(metrics_of("NASNet", CellType::reduce).parameterized_edges == 5);

    // A skip_connect from an input of a reduction cell is a factorized reduce, with weights.
    Cell cell;
    cell.edges = {{Operation::skip_connect, 0}, {Operation::skip_connect, 1}, {Operation::skip_connect, 2},
                  {Operation::max_pool_3x3, 1}};
    cell.concat = {2, 3};
    CHECK(cell_metrics(cell, CellType::reduce).parameterized_edges == 2);
    CHECK(cell_metrics(cell, CellType::normal).parameterized_edges == 0);
}

TEST_CASE("widths print as the paper writes them") {
    CHECK(format_width(3.5) == "3.5c");
    CHECK(format_width(4.0) == "4c");
    CHECK(format_width(0.0) == "0c");
}

namespace {

Cell cell_with(std::vector<Edge> edges, std::vector<int> concat) {
    Cell cell;
    cell.edges = std::move(edges);
    cell.concat = std::move(concat);
    return cell;
}

}  // namespace

TEST_CASE("a none edge carries nothing: by default it adds no width and lies on no path") {
    const Operation sep = Operation::sep_conv_3x3, zero = Operation::none;
    // n2 (0 sep, 1 none): .5 at 1; n3 (2 sep, 0 none): 0 at 2; n4 (3 sep, 1 sep): .5 at 3. concat [4].
    // Counting none as a connection: n2 1, n3 .5 (the none from 0), n4 .5 -> 2c, depth 4 either way.
    const CellMetrics metrics =
        cell_metrics(cell_with({{sep, 0}, {zero, 1}, {sep, 2}, {zero, 0}, {sep, 3}, {sep, 1}}, {4}), CellType::normal);
    CHECK(metrics.width == 1.0);
    CHECK(metrics.depth == 4);
    CHECK(metrics.width_counting_none == 2.0);
    CHECK(metrics.depth_counting_none == 4);
    CHECK(metrics.none_edges == 2);
}

TEST_CASE("a node whose inputs are all none is dead: paths through it end, and a cell of dead outputs has depth 0") {
    const Operation sep = Operation::sep_conv_3x3, zero = Operation::none;
    // n2 (0 none, 1 none): dead; n3 (2 sep, 2 sep): dead (its only source is dead); n4 (0 sep, 3 sep): .5 at 1.
    // concat [3, 4]: n3 dead, n4 live at 1 -> depth 2. Counting none: n2 1c, n4 .5c, path 0->2->3->4->out = 4.
    const Cell cell = cell_with({{zero, 0}, {zero, 1}, {sep, 2}, {sep, 2}, {sep, 0}, {sep, 3}}, {3, 4});
    const CellMetrics metrics = cell_metrics(cell, CellType::normal);
    CHECK(metrics.width == 0.5);
    CHECK(metrics.depth == 2);
    CHECK(metrics.width_counting_none == 1.5);
    CHECK(metrics.depth_counting_none == 4);

    // Only the dead node feeds the output: nothing reaches it.
    const CellMetrics dead = cell_metrics(cell_with({{zero, 0}, {zero, 1}}, {2}), CellType::normal);
    CHECK(dead.width == 0.0);
    CHECK(dead.depth == 0);
    CHECK(dead.depth_counting_none == 2);
}

TEST_CASE("without none edges both readings agree on every zoo cell") {
    for (const NamedGenotype& named : genotype_zoo())
        for (CellType type : both_cell_types) {
            const CellMetrics metrics = cell_metrics(named.genotype.cell(type), type);
            INFO(named.name << " " << cell_type_name(type));
            CHECK(metrics.none_edges == 0);
            CHECK(metrics.width == metrics.width_counting_none);
            CHECK(metrics.depth == metrics.depth_counting_none);
        }
}
