#pragma once
// What `cellscape cell` and friends print about cells: one JSON object per
// cell, a table for several, a short text block for one.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "cellscape/cells/genotype.hpp"

namespace cellscape {

// {"name": ..., "genotype": "<DARTS text>", "normal": {"width": 3.5, "depth": 3,
//  "nodes": 4, "concat": [...], "operations": {...}, "parameterized_edges": 5}, "reduce": {...}}
nlohmann::ordered_json cell_report_json(const NamedGenotype& cell);
nlohmann::ordered_json cell_report_json(const std::vector<NamedGenotype>& cells);  // an array

// One row per cell: name, then width, depth and nodes of each cell type.
std::string cell_report_table(const std::vector<NamedGenotype>& cells);

// The genotype text and, per cell type, the metrics and the operation histogram.
std::string cell_report_text(const NamedGenotype& cell);

}  // namespace cellscape
