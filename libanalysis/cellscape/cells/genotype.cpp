#include "cellscape/cells/genotype.hpp"

#include <fmt/format.h>

#include "cellscape/util/error.hpp"

namespace cellscape {

std::optional<CellProblem> find_cell_problem(const Cell& cell, CellType type) {
    using Where = CellProblem::Where;
    const auto name = cell_type_name(type);
    if (cell.edges.empty())
        return CellProblem{Where::edge_list, 0,
                           fmt::format("the {} cell is empty: give two edges per intermediate node", name)};
    if (cell.edges.size() % 2 != 0)
        return CellProblem{Where::edge_list, cell.edges.size(),
                           fmt::format("the {} cell has {} edges, an odd number: every intermediate node takes "
                                       "exactly two",
                                       name, cell.edges.size())};
    for (std::size_t k = 0; k < cell.edges.size(); ++k) {
        const int node = static_cast<int>(k / 2) + 2;
        const int source = cell.edges[k].source;
        if (source < 0 || source >= node)
            return CellProblem{Where::edge, k,
                               fmt::format("{} edge {} (into node {}) comes from node {}, which is not an earlier "
                                           "node (allowed: 0 to {})",
                                           name, k, node, source, node - 1)};
    }
    if (cell.concat.empty())
        return CellProblem{Where::concat_list, 0,
                           fmt::format("{}_concat is empty: the output must concatenate at least one node", name)};
    const int last = cell.intermediate_nodes() + 1;
    for (std::size_t i = 0; i < cell.concat.size(); ++i) {
        const int node = cell.concat[i];
        if (node < 2 || node > last)
            return CellProblem{Where::concat_entry, i,
                               fmt::format("{}_concat names node {}, which does not exist: the intermediate nodes "
                                           "of this cell are 2 to {}",
                                           name, node, last)};
        for (std::size_t j = 0; j < i; ++j)
            if (cell.concat[j] == node)
                return CellProblem{Where::concat_entry, i,
                                   fmt::format("{}_concat names node {} twice", name, node)};
    }
    return std::nullopt;
}

void validate_cell(const Cell& cell, CellType type) {
    if (auto problem = find_cell_problem(cell, type)) throw Error(problem->message);
}

void validate_genotype(const Genotype& genotype) {
    for (CellType type : both_cell_types) validate_cell(genotype.cell(type), type);
}

namespace {

std::string format_edges(const Cell& cell) {
    std::string out = "[";
    for (std::size_t k = 0; k < cell.edges.size(); ++k) {
        if (k > 0) out += ", ";
        out += fmt::format("('{}', {})", operation_name(cell.edges[k].op), cell.edges[k].source);
    }
    return out + "]";
}

std::string format_concat(const Cell& cell) { return fmt::format("[{}]", fmt::join(cell.concat, ", ")); }

}  // namespace

std::string format_genotype(const Genotype& genotype) {
    return fmt::format("Genotype(normal={}, normal_concat={}, reduce={}, reduce_concat={})",
                       format_edges(genotype.normal), format_concat(genotype.normal),
                       format_edges(genotype.reduce), format_concat(genotype.reduce));
}

ParsedGenotype parse_genotype(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && text[first] == '{') return parse_genotype_json(text);
    return parse_genotype_text(text);
}

}  // namespace cellscape
