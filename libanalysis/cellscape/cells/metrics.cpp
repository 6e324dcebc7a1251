#include "cellscape/cells/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace cellscape {

bool edge_is_parameterized(const Edge& edge, CellType type) {
    if (operation_has_weights(edge.op)) return true;
    return type == CellType::reduce && edge.op == Operation::skip_connect && edge.source < 2;
}

namespace {

// Width and depth over the edges `carries` accepts; `carries(edge, live)`
// is told whether the edge's source is live (some information reaches it).
struct WidthDepth {
    double width = 0;
    int depth = 0;
};

template <typename Carries>
WidthDepth width_and_depth(const Cell& cell, Carries carries) {
    // Longest path, in edges, from an input node to each node, -1 for a
    // node nothing reaches. Sources always precede their node, so one pass
    // in index order suffices.
    std::vector<int> longest_path(cell.edges.size() / 2 + 2, -1);
    longest_path[0] = longest_path[1] = 0;
    int edges_from_inputs = 0;
    for (std::size_t k = 0; k < cell.edges.size(); ++k) {
        const Edge& edge = cell.edges[k];
        const std::size_t node = k / 2 + 2;
        const int from = longest_path[static_cast<std::size_t>(edge.source)];
        if (!carries(edge, from >= 0)) continue;
        longest_path[node] = std::max(longest_path[node], from + 1);
        if (edge.source < 2) ++edges_from_inputs;
    }
    WidthDepth result;
    result.width = edges_from_inputs / 2.0;
    for (int node : cell.concat)
        if (const int path = longest_path[static_cast<std::size_t>(node)]; path >= 0)
            result.depth = std::max(result.depth, path + 1);
    return result;
}

}  // namespace

CellMetrics cell_metrics(const Cell& cell, CellType type) {
    validate_cell(cell, type);
    CellMetrics metrics;
    metrics.nodes = cell.intermediate_nodes();
    for (const Edge& edge : cell.edges) {
        ++metrics.operations[std::string(operation_name(edge.op))];
        if (edge_is_parameterized(edge, type)) ++metrics.parameterized_edges;
        if (edge.op == Operation::none) ++metrics.none_edges;
    }
    const WidthDepth flowing =
        width_and_depth(cell, [](const Edge& edge, bool live) { return live && edge.op != Operation::none; });
    const WidthDepth counting = width_and_depth(cell, [](const Edge&, bool) { return true; });
    metrics.width = flowing.width;
    metrics.depth = flowing.depth;
    metrics.width_counting_none = counting.width;
    metrics.depth_counting_none = counting.depth;
    return metrics;
}

std::string format_width(double width) { return fmt::format("{}c", width); }

}  // namespace cellscape
