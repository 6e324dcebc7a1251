#include "cellscape/cells/diagram.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cellscape/cells/metrics.hpp"

namespace cellscape {
namespace {

std::string quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string node_id(CellType type, int node) { return fmt::format("{}_{}", cell_type_name(type), node); }

std::string cell_cluster(const NamedGenotype& named, CellType type) {
    const Cell& cell = named.genotype.cell(type);
    const CellMetrics metrics = cell_metrics(cell, type);
    const auto prefix = cell_type_name(type);
    std::string out = fmt::format("  subgraph cluster_{} {{\n", prefix);
    out += fmt::format("    label={};\n", quoted(fmt::format("{} {}: {}, depth {}", named.name, prefix,
                                                             format_width(metrics.width), metrics.depth)));
    out += "    labelloc=t; fontsize=16; color=gray70;\n";
    out += fmt::format("    {} [label=\"c_{{k-2}}\", shape=box, style=filled, fillcolor=darkseagreen2];\n",
                       node_id(type, 0));
    out += fmt::format("    {} [label=\"c_{{k-1}}\", shape=box, style=filled, fillcolor=darkseagreen2];\n",
                       node_id(type, 1));
    for (int node = 2; node < metrics.nodes + 2; ++node) {
        const bool in_concat = std::find(cell.concat.begin(), cell.concat.end(), node) != cell.concat.end();
        out += fmt::format("    {} [label=\"{}\", shape=box, style=\"filled{}\", fillcolor=lightblue];\n",
                           node_id(type, node), node - 2, in_concat ? "" : ",dashed");
    }
    const std::string output = fmt::format("{}_out", prefix);
    out += fmt::format("    {} [label=\"c_{{k}}\", shape=box, style=filled, fillcolor=palegoldenrod];\n", output);
    for (std::size_t k = 0; k < cell.edges.size(); ++k) {
        const Edge& edge = cell.edges[k];
        out += fmt::format("    {} -> {} [label={}];\n", node_id(type, edge.source),
                           node_id(type, static_cast<int>(k / 2) + 2), quoted(std::string(operation_name(edge.op))));
    }
    for (int node : cell.concat) out += fmt::format("    {} -> {} [color=gray50];\n", node_id(type, node), output);
    return out + "  }\n";
}

}  // namespace

std::string genotype_dot(const NamedGenotype& cell) {
    std::string out = fmt::format("digraph {} {{\n", quoted(cell.name));
    out += "  rankdir=LR; fontname=\"Helvetica\";\n  node [fontname=\"Helvetica\"]; edge [fontname=\"Helvetica\", fontsize=11];\n";
    for (CellType type : both_cell_types) out += cell_cluster(cell, type);
    return out + "}\n";
}

}  // namespace cellscape
