#pragma once
// What `cellscape rank` measures of every cell without training it: the
// normal and reduction cells' width and depth (cells/metrics.hpp), their
// parameterized edges, and the parameters and multiply-adds of the network
// the genotype builds (nn/network_size.hpp), with the operation histogram
// the partial associations hold fixed. Torch-free: 10,000 genotypes take
// well under a second (bench/rank_benchmark.cpp).
#include <string>
#include <vector>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/nn/network_config.hpp"

namespace cellscape {

struct StructuralFeatures {
    // The metrics ranked against the values, one column per metric, one
    // entry per cell: normal_width, normal_depth, reduce_width,
    // reduce_depth, normal_parameterized_edges, reduce_parameterized_edges,
    // parameters, multiply_adds; and, when some cell has a `none` edge, the
    // widths and depths that count `none` edges as connections
    // (normal_width_counting_none, ...).
    std::vector<std::string> metric_names;
    std::vector<std::vector<double>> metrics;
    // Per cell, not ranked: nodes and none edges of each cell type.
    std::vector<std::string> count_names;
    std::vector<std::vector<double>> counts;
    // The operation histogram: edges of each operation in each cell type
    // ("normal_sep_conv_3x3"), for the operations some cell uses.
    std::vector<std::string> operation_names;
    std::vector<std::vector<double>> operations;

    // What a partial association holds fixed, the cell's operation content:
    // both cell types' parameterized edges and every histogram column that
    // is not constant.
    std::vector<std::vector<double>> operation_content() const;
};

StructuralFeatures structural_features(const std::vector<Genotype>& genotypes, const nn::NetworkConfig& config);

}  // namespace cellscape
