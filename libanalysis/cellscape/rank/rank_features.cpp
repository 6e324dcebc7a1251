#include "cellscape/rank/rank_features.hpp"

#include <algorithm>
#include <map>

#include "cellscape/cells/metrics.hpp"
#include "cellscape/nn/network_size.hpp"

namespace cellscape {

std::vector<std::vector<double>> StructuralFeatures::operation_content() const {
    std::vector<std::vector<double>> content;
    auto add_varying = [&](const std::vector<double>& column) {
        if (std::adjacent_find(column.begin(), column.end(), std::not_equal_to<>()) != column.end())
            content.push_back(column);
    };
    for (std::size_t m = 0; m < metric_names.size(); ++m)
        if (metric_names[m] == "normal_parameterized_edges" || metric_names[m] == "reduce_parameterized_edges")
            add_varying(metrics[m]);
    for (const auto& column : operations) add_varying(column);
    return content;
}

StructuralFeatures structural_features(const std::vector<Genotype>& genotypes, const nn::NetworkConfig& config) {
    StructuralFeatures features;
    const std::size_t n = genotypes.size();
    std::vector<std::array<CellMetrics, 2>> cells;
    cells.reserve(n);
    bool any_none = false;
    for (const Genotype& genotype : genotypes) {
        cells.push_back({cell_metrics(genotype.normal, CellType::normal), cell_metrics(genotype.reduce, CellType::reduce)});
        any_none = any_none || cells.back()[0].none_edges > 0 || cells.back()[1].none_edges > 0;
    }
    auto add = [&](std::vector<std::string>& names, std::vector<std::vector<double>>& columns, std::string name,
                   auto get) {
        names.push_back(std::move(name));
        columns.emplace_back(n);
        for (std::size_t c = 0; c < n; ++c) columns.back()[c] = get(c);
    };
    const char* type_names[] = {"normal", "reduce"};
    for (int t = 0; t < 2; ++t) {
        add(features.metric_names, features.metrics, std::string(type_names[t]) + "_width",
            [&](std::size_t c) { return cells[c][t].width; });
        add(features.metric_names, features.metrics, std::string(type_names[t]) + "_depth",
            [&](std::size_t c) { return static_cast<double>(cells[c][t].depth); });
    }
    for (int t = 0; t < 2; ++t)
        add(features.metric_names, features.metrics, std::string(type_names[t]) + "_parameterized_edges",
            [&](std::size_t c) { return static_cast<double>(cells[c][t].parameterized_edges); });
    std::vector<nn::NetworkSize> sizes;
    sizes.reserve(n);
    for (const Genotype& genotype : genotypes) sizes.push_back(nn::network_size(genotype, config));
    add(features.metric_names, features.metrics, "parameters",
        [&](std::size_t c) { return static_cast<double>(sizes[c].parameters); });
    add(features.metric_names, features.metrics, "multiply_adds",
        [&](std::size_t c) { return static_cast<double>(sizes[c].multiply_adds); });
    if (any_none)
        for (int t = 0; t < 2; ++t) {
            add(features.metric_names, features.metrics, std::string(type_names[t]) + "_width_counting_none",
                [&](std::size_t c) { return cells[c][t].width_counting_none; });
            add(features.metric_names, features.metrics, std::string(type_names[t]) + "_depth_counting_none",
                [&](std::size_t c) { return static_cast<double>(cells[c][t].depth_counting_none); });
        }
    for (int t = 0; t < 2; ++t) {
        add(features.count_names, features.counts, std::string(type_names[t]) + "_nodes",
            [&](std::size_t c) { return static_cast<double>(cells[c][t].nodes); });
        add(features.count_names, features.counts, std::string(type_names[t]) + "_none_edges",
            [&](std::size_t c) { return static_cast<double>(cells[c][t].none_edges); });
    }
    for (int t = 0; t < 2; ++t) {
        std::map<std::string, bool> used;
        for (const auto& cell : cells)
            for (const auto& [op, count] : cell[t].operations) used[op] = true;
        for (const auto& [op, unused] : used)
            add(features.operation_names, features.operations, std::string(type_names[t]) + "_" + op,
                [&, op = op](std::size_t c) {
                    const auto found = cells[c][t].operations.find(op);
                    return found == cells[c][t].operations.end() ? 0.0 : static_cast<double>(found->second);
                });
    }
    return features;
}

}  // namespace cellscape
