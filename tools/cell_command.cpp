#include <fmt/format.h>

#include <memory>

#include "cellscape/cells/cell_spec.hpp"
#include "cellscape/cells/zoo.hpp"
#include "commands.hpp"

namespace cellscape::tools {

void add_cell_command(CLI::App& app) {
    struct Options {
        std::string spec;
        bool list = false;
        CellOutputOptions output;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("cell", "Show a cell: its genotype, width, depth and diagram");
    command->footer(
        "CELL is a zoo name (DARTS_V2), a variant spec (DARTS_V2:chain, DARTS_V2:random-connections:count=3,seed=1),\n"
        "random:seed=S[,count=N,nodes=N], genotype text (NAME = Genotype(normal=[...], ...)), JSON, or @FILE.\n"
        "See docs/cells.md.");
    auto* cell = command->add_option("CELL", options->spec, "The cell (see below)");
    command->add_flag("--list", options->list, "List the zoo with widths and depths")->excludes(cell);
    options->output.add_to(*command);
    command->callback([options] {
        if (options->list) {
            print_cells(genotype_zoo(), options->output, false);
            return;
        }
        if (options->spec.empty()) throw CLI::RequiredError("CELL (or --list)");
        print_cells(resolve_cells(options->spec), options->output, true);
    });
}

}  // namespace cellscape::tools
