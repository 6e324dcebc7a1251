#pragma once
// The parts of a network whose curvature is asked for separately
// (docs/analysis.md, "Curvature by part"): a partition of the selected
// parameters by name. Torch-free: a part is ranges of the Objective's flat
// parameter vector, whose order is the parameters' order.
//
//   cell   a DARTS network's stem, each cell ("cells.3") and its classifier;
//          any other model's top-level modules (the first component of a
//          parameter's name)
//   edge   the same, with each cell split into its preprocessing convolutions
//          ("cells.3.preprocess0", "cells.3.preprocess1") and its edges
//          ("cells.3.ops.5": edge 5 of the genotype's list for that cell)
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cellscape/util/names.hpp"

namespace cellscape {

enum class PartLevel { cell, edge };

template <>
struct EnumNames<PartLevel> {
    static constexpr std::array<std::pair<std::string_view, PartLevel>, 2> values{
        {{"cell", PartLevel::cell}, {"edge", PartLevel::edge}}};
};

struct ParameterPart {
    std::string name;
    int64_t size = 0;                                // parameters in the part
    std::vector<std::pair<int64_t, int64_t>> ranges;  // (offset, length) in the flat vector, in order
};

// The part a parameter named `name` belongs to at `level`.
std::string part_of(const std::string& name, PartLevel level);

// The parts of the parameters (name, number of elements), in the order
// their first parameter appears; adjacent parameters of one part share a range.
std::vector<ParameterPart> parameter_parts(const std::vector<std::pair<std::string, int64_t>>& parameters,
                                           PartLevel level);

}  // namespace cellscape
