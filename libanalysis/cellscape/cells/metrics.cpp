#include "cellscape/cells/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace cellscape {

bool edge_is_parameterized(const Edge& edge, CellType type) {
    if (operation_has_weights(edge.op)) return true;
    return type == CellType::reduce && edge.op == Operation::skip_connect && edge.source < 2;
}

CellMetrics cell_metrics(const Cell& cell, CellType type) {
    validate_cell(cell, type);
    CellMetrics metrics;
    metrics.nodes = cell.intermediate_nodes();

    // Longest path, in edges, from an input node to each node. Sources always
    // precede their node, so one pass in index order suffices.
    std::vector<int> longest_path(static_cast<std::size_t>(metrics.nodes) + 2, 0);
    int edges_from_inputs = 0;
    for (std::size_t k = 0; k < cell.edges.size(); ++k) {
        const Edge& edge = cell.edges[k];
        const std::size_t node = k / 2 + 2;
        longest_path[node] = std::max(longest_path[node], longest_path[static_cast<std::size_t>(edge.source)] + 1);
        if (edge.source < 2) ++edges_from_inputs;
        ++metrics.operations[std::string(operation_name(edge.op))];
        if (edge_is_parameterized(edge, type)) ++metrics.parameterized_edges;
    }
    metrics.width = edges_from_inputs / 2.0;
    for (int node : cell.concat)
        metrics.depth = std::max(metrics.depth, longest_path[static_cast<std::size_t>(node)] + 1);
    return metrics;
}

std::string format_width(double width) { return fmt::format("{}c", width); }

}  // namespace cellscape
