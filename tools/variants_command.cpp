#include <fmt/format.h>

#include <memory>

#include "cellscape/cells/cell_spec.hpp"
#include "commands.hpp"
#include "seed_option.hpp"

namespace cellscape::tools {

void add_variants_command(CLI::App& app) {
    struct Options {
        std::string spec;
        std::string kind;
        int count = 1;
        std::uint64_t seed = 0;
        std::string cells = "normal";  // the reduction cell kept, as in a CELL spec
        CellOutputOptions output;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("variants", "Derive wide, deep or random variants of a cell");
    command->add_option("CELL", options->spec, "The base cell (anything `cellscape cell` accepts)")->required();
    command->add_option("--kind", options->kind, "Which variant")
        ->required()
        ->check(CLI::IsMember({"widest", "chain", "random-connections", "random-ops"}));
    command->add_option("--count", options->count, "How many (random kinds only)")->capture_default_str();
    command->add_option("--seed", options->seed, "Random seed (random kinds only)")
        ->check(seed_rule_check())
        ->capture_default_str();
    command->add_option("--cells", options->cells, "Which cells of the genotype to rewrite")
        ->check(CLI::IsMember({"both", "normal", "reduce"}))
        ->capture_default_str();
    options->output.add_to(*command);
    command->callback([options] {
        const NamedGenotype base = resolve_cell(options->spec);
        const auto variants = named_variants(base, *variant_kind_from_name(options->kind), options->count,
                                             options->seed, *variant_target_from_name(options->cells));
        print_cells(variants, options->output, false);
    });
}

}  // namespace cellscape::tools
