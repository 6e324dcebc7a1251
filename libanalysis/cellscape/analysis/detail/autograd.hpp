#pragma once
// Autograd and dtype helpers the analyses share (defined in
// analysis/objective.cpp; not installed).
#include <torch/types.h>

#include <vector>

#include "cellscape/analysis/objective_settings.hpp"

namespace cellscape {

torch::ScalarType scalar_type_of(Precision precision);

// d output / d inputs, with zeros for inputs the output does not depend on
// (e.g. parameters of a branch the forward pass skips).
// The graph is kept for another pass when `retain_graph` or `create_graph`.
std::vector<torch::Tensor> gradients_or_zeros(const torch::Tensor& output, const std::vector<torch::Tensor>& inputs,
                                              bool create_graph, bool retain_graph = false);

}  // namespace cellscape
