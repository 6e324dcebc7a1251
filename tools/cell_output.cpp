#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cellscape/cells/cell_report.hpp"
#include "cellscape/cells/diagram.hpp"
#include "commands.hpp"
#include "printable.hpp"
#include "cellscape/io/graphviz.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/io/paths.hpp"

namespace cellscape::tools {

void CellOutputOptions::add_to(CLI::App& command) {
    auto* json_flag = command.add_flag("--json", json, "Print JSON (one object per cell) instead of text");
    command.add_flag("--dot", dot, "Print a Graphviz DOT drawing of both cells of each genotype")
        ->excludes(json_flag);
    command.add_option("--render", render,
                       "Draw the cells with Graphviz into FILE (.svg, .png or .pdf); with several cells the "
                       "name must contain {name}, e.g. out/{name}.svg");
    command.add_flag("--force", force, "With --render: replace diagram files that already exist");
}

namespace {

// The file a cell's diagram goes to: the template with {name} replaced. A
// name is one file name, so that no cell can send a diagram out of the
// directory the user chose ("../x", "a/b", ".." refused) or into a name no
// shell can type (control characters).
std::filesystem::path diagram_path(const std::string& render, const std::string& name, bool templated) {
    if (!templated) return render;
    const bool has_separator = name.find_first_of("/\\") != std::string::npos;
    const bool has_control = std::any_of(name.begin(), name.end(), [](char c) {
        return static_cast<unsigned char>(c) < 32 || c == 127;
    });
    if (name.empty() || name == "." || name == ".." || has_separator || has_control)
        throw Error(fmt::format("--render {}: the cell name '{}' cannot be a file name (it is empty, '.' or '..', or "
                                "holds '/', '\\' or a control character), so its diagram could land outside the "
                                "chosen directory; rename the cell (its \"name\" in the JSON) or draw it alone with "
                                "--render FILE",
                                render, printable(name)));
    std::string path = render;
    path.replace(path.find("{name}"), 6, name);
    return path;
}

}  // namespace

void print_cells(const std::vector<NamedGenotype>& cells, const CellOutputOptions& options, bool single_object) {
    if (!options.render.empty()) {
        const bool templated = options.render.find("{name}") != std::string::npos;
        if (cells.size() > 1 && !templated)
            throw Error(fmt::format("--render {} would draw {} cells into one file; put {{name}} in the file name, "
                                    "e.g. --render out/{{name}}.svg",
                                    options.render, cells.size()));
        // Every path is checked before the first diagram is drawn.
        std::vector<std::filesystem::path> paths;
        for (const auto& cell : cells) {
            paths.push_back(diagram_path(options.render, cell.name, templated));
            check_output_file(paths.back(), options.force, "render");  // io/paths.hpp's policy
        }
        for (std::size_t i = 0; i < cells.size(); ++i) {
            render_dot(genotype_dot(cells[i]), paths[i]);
            std::cerr << "drew " << cells[i].name << " into " << paths[i].string() << "\n";
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
