#include "cellscape/cells/cell_report.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cellscape/cells/metrics.hpp"

namespace cellscape {

nlohmann::ordered_json cell_report_json(const NamedGenotype& cell) {
    nlohmann::ordered_json out = {{"name", cell.name}, {"genotype", format_genotype(cell.genotype)}};
    for (CellType type : both_cell_types) {
        const CellMetrics metrics = cell_metrics(cell.genotype.cell(type), type);
        out[std::string(cell_type_name(type))] = {
            {"width", metrics.width},
            {"depth", metrics.depth},
            {"nodes", metrics.nodes},
            {"concat", cell.genotype.cell(type).concat},
            {"operations", metrics.operations},
            {"parameterized_edges", metrics.parameterized_edges},
        };
        // A cell with `none` edges has two readings of width and depth (cells/metrics.hpp).
        if (metrics.none_edges > 0) {
            auto& entry = out[std::string(cell_type_name(type))];
            entry["none_edges"] = metrics.none_edges;
            entry["width_counting_none"] = metrics.width_counting_none;
            entry["depth_counting_none"] = metrics.depth_counting_none;
        }
    }
    return out;
}

nlohmann::ordered_json cell_report_json(const std::vector<NamedGenotype>& cells) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& cell : cells) out.push_back(cell_report_json(cell));
    return out;
}

std::string cell_report_table(const std::vector<NamedGenotype>& cells) {
    std::size_t name_width = 4;
    for (const auto& cell : cells) name_width = std::max(name_width, cell.name.size());
    std::string out = fmt::format("{:<{}}  {:>12} {:>12} {:>12}  {:>12} {:>12} {:>12}\n", "cell", name_width,
                                  "normal width", "normal depth", "normal nodes", "reduce width", "reduce depth",
                                  "reduce nodes");
    for (const auto& cell : cells) {
        const CellMetrics normal = cell_metrics(cell.genotype.normal, CellType::normal);
        const CellMetrics reduce = cell_metrics(cell.genotype.reduce, CellType::reduce);
        out += fmt::format("{:<{}}  {:>12} {:>12} {:>12}  {:>12} {:>12} {:>12}\n", cell.name, name_width,
                           format_width(normal.width), normal.depth, normal.nodes, format_width(reduce.width),
                           reduce.depth, reduce.nodes);
    }
    return out;
}

std::string cell_report_text(const NamedGenotype& cell) {
    std::string out = fmt::format("{} = {}\n", cell.name, format_genotype(cell.genotype));
    for (CellType type : both_cell_types) {
        const CellMetrics metrics = cell_metrics(cell.genotype.cell(type), type);
        out += fmt::format("{:<6}  width {}, depth {}, {} nodes, {} parameterized edges; concat [{}]\n",
                           cell_type_name(type), format_width(metrics.width), metrics.depth, metrics.nodes,
                           metrics.parameterized_edges, fmt::join(cell.genotype.cell(type).concat, ", "));
        std::string histogram;
        for (const auto& [name, count] : metrics.operations)
            histogram += fmt::format("{}{} x{}", histogram.empty() ? "" : ", ", name, count);
        out += fmt::format("        operations: {}\n", histogram);
        if (metrics.none_edges > 0)
            out += fmt::format("        {} none edges carry nothing; counting them as connections: width {}, depth {}\n",
                               metrics.none_edges, format_width(metrics.width_counting_none),
                               metrics.depth_counting_none);
    }
    return out;
}

}  // namespace cellscape
