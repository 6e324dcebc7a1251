#include <fmt/format.h>

#include <iostream>

#include "cellscape/cells/cell_report.hpp"
#include "cellscape/cells/diagram.hpp"
#include "commands.hpp"
#include "cellscape/io/graphviz.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape::tools {

void CellOutputOptions::add_to(CLI::App& command) {
    auto* json_flag = command.add_flag("--json", json, "Print JSON (one object per cell) instead of text");
    command.add_flag("--dot", dot, "Print a Graphviz DOT drawing of both cells of each genotype")
        ->excludes(json_flag);
    command.add_option("--render", render,
                       "Draw the cells with Graphviz into FILE (.svg, .png or .pdf); with several cells the "
                       "name must contain {name}, e.g. out/{name}.svg");
}

void print_cells(const std::vector<NamedGenotype>& cells, const CellOutputOptions& options, bool single_object) {
    if (!options.render.empty()) {
        const bool templated = options.render.find("{name}") != std::string::npos;
        if (cells.size() > 1 && !templated)
            throw Error(fmt::format("--render {} would draw {} cells into one file; put {{name}} in the file name, "
                                    "e.g. --render out/{{name}}.svg",
                                    options.render, cells.size()));
        for (const auto& cell : cells) {
            std::string path = options.render;
            if (templated) path.replace(path.find("{name}"), 6, cell.name);
            render_dot(genotype_dot(cell), path);
            std::cerr << "drew " << cell.name << " into " << path << "\n";
        }
    }
    if (options.json) {
        std::cout << (single_object && cells.size() == 1 ? cell_report_json(cells.front()) : cell_report_json(cells))
                         .dump(2)
                  << "\n";
    } else if (options.dot) {
        for (const auto& cell : cells) std::cout << genotype_dot(cell);
    } else if (cells.size() == 1) {
        std::cout << cell_report_text(cells.front());
    } else {
        std::cout << cell_report_table(cells) << "\n";
        for (const auto& cell : cells) std::cout << cell.name << " = " << format_genotype(cell.genotype) << "\n";
    }
}

}  // namespace cellscape::tools
