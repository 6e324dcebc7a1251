#pragma once
// Graphviz DOT drawings of a genotype's two cells.
#include <string>

#include "cellscape/cells/genotype.hpp"

namespace cellscape {

// One digraph with a cluster per cell type. Nodes: the inputs c_{k-2} and
// c_{k-1}, the intermediate nodes 0..N-1 (dashed when not in concat, as they
// do not feed the output directly), the output c_{k}. Edges carry their
// operation's name. Each cluster's title gives width and depth, e.g.
// "DARTS_V2 normal: 3.5c, depth 3".
std::string genotype_dot(const NamedGenotype& cell);

}  // namespace cellscape
