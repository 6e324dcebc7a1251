#pragma once
// Width and depth of a cell as the paper defines them (docs/science.md section 2),
// and a few counts that go with them.
#include <map>
#include <string>

#include "cellscape/cells/genotype.hpp"

namespace cellscape {

// A `none` edge (the zero operation) carries nothing: its node receives no
// information through it. The paper's width counts the information that
// reaches a node from the inputs, so by default width and depth read a cell
// as the information flows (docs/cells.md, "`none` edges"):
//
//   width   a node contributes 0.5c for each of its incoming edges that
//           comes from node 0 or 1 and is not `none`;
//   depth   the longest path from an input node to the output over edges
//           that are not `none` and leave a node some information reaches
//           ("live": an input node, or a node with such an incoming edge),
//           the edge from a live concat node to the output counted; 0 when
//           no concat node is live (the cell outputs zeros).
//
// The `_counting_none` fields read every edge as a connection, whatever its
// operation (cellscape before 0.3). The two agree on every cell without
// `none`: the zoo's, their variants and the sampler's.
struct CellMetrics {
    // Total width of the intermediate nodes connected to the input nodes, in
    // units of c (the channels of one node): a node contributes the fraction
    // of its two incoming edges that come from nodes 0 or 1 (and are not `none`).
    double width = 0;
    // Edges on the longest path from an input node to the output node; the
    // edge from a concat node to the output counts.
    int depth = 0;
    double width_counting_none = 0;
    int depth_counting_none = 0;
    int none_edges = 0;                         // edges whose operation is `none`
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
