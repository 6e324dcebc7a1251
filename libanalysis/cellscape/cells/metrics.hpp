#pragma once
// Width and depth of a cell as the paper defines them (docs/science.md section 2),
// and a few counts that go with them.
#include <map>
#include <string>

#include "cellscape/cells/genotype.hpp"

namespace cellscape {

struct CellMetrics {
    // Total width of the intermediate nodes connected to the input nodes, in
    // units of c (the channels of one node): a node contributes the fraction
    // of its two incoming edges that come from nodes 0 or 1.
    double width = 0;
    // Edges on the longest path from an input node to the output node; the
    // edge from a concat node to the output counts.
    int depth = 0;
    int nodes = 0;                              // intermediate nodes
    std::map<std::string, int> operations;      // operation name -> edges using it
    int parameterized_edges = 0;                // edges with learnable weights
};

CellMetrics cell_metrics(const Cell& cell, CellType type);

// Whether an edge carries weights in the network: the convolutions always,
// and in a reduction cell also a skip_connect from an input node, which has
// stride 2 and so becomes a factorized reduce (two 1x1 convolutions).
bool edge_is_parameterized(const Edge& edge, CellType type);

// "3.5c", "4c": a width as the paper writes it.
std::string format_width(double width);

}  // namespace cellscape
