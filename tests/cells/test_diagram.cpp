// DOT drawings and their rendering through Graphviz.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <sstream>

#include "cellscape/cells/diagram.hpp"
#include "cellscape/cells/zoo.hpp"
#include "cellscape/io/graphviz.hpp"
#include "support/temporary_directory.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;

TEST_CASE("the DOT drawing titles each cell with its width and depth and labels every edge") {
    const auto cell = *find_in_zoo("DARTS_V2");
    const std::string dot = genotype_dot(cell);
    CHECK_THAT(dot, Contains("label=\"DARTS_V2 normal: 3.5c, depth 3\""));
    CHECK_THAT(dot, Contains("label=\"DARTS_V2 reduce: 2.5c, depth 3\""));
    // Node 5 (drawn as "3") takes dil_conv_3x3 from node 2 (drawn as "0").
    CHECK_THAT(dot, Contains("normal_2 -> normal_5 [label=\"dil_conv_3x3\"]"));
    CHECK_THAT(dot, Contains("normal_5 -> normal_out"));
    std::istringstream lines(dot);
    int labelled_edges = 0;
    for (std::string line; std::getline(lines, line);)
        if (line.find(" -> ") != std::string::npos && line.find("[label=") != std::string::npos) ++labelled_edges;
    CHECK(labelled_edges == 16);  // 8 edges per cell
}

TEST_CASE("nodes outside concat are drawn dashed") {
    const std::string dot = genotype_dot(*find_in_zoo("AmoebaNet"));
    // AmoebaNet normal concat is [4, 5, 6]: nodes 2 and 3 are dashed.
    CHECK_THAT(dot, Contains("normal_2 [label=\"0\", shape=box, style=\"filled,dashed\""));
    CHECK_THAT(dot, Contains("normal_4 [label=\"2\", shape=box, style=\"filled\""));
}

TEST_CASE("render_dot writes a complete SVG through Graphviz") {
    const testing::TemporaryDirectory dir;
    const auto path = dir / "enas.svg";
    render_dot(genotype_dot(*find_in_zoo("ENAS")), path);
    std::ifstream file(path);
    std::stringstream contents;
    contents << file.rdbuf();
    CHECK_THAT(contents.str(), Contains("<svg"));
    CHECK_THAT(contents.str(), Contains("ENAS normal: 5c, depth 2"));
    // Nothing else is left beside it (the temporary file has a private name).
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("render_dot refuses unknown formats and broken DOT") {
    CHECK_THROWS_WITH(render_dot("digraph {}", "cell.jpg"), Contains("must end in .svg, .png or .pdf"));
    CHECK_THROWS_WITH(render_dot("digraph {}", "/nonexistent-dir/cell.svg"), Contains("does not exist"));
    const testing::TemporaryDirectory dir;
    const auto path = dir / "broken.svg";
    CHECK_THROWS_WITH(render_dot("digraph { -> }", path), Contains("failed to render"));
    CHECK(std::filesystem::is_empty(dir.path()));  // neither the file nor its temporary
}
