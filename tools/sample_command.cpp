#include <fmt/format.h>

#include <memory>

#include "cellscape/cells/sampling.hpp"
#include "commands.hpp"
#include "seed_option.hpp"

namespace cellscape::tools {

void add_sample_command(CLI::App& app) {
    struct Options {
        int count = 1;
        std::uint64_t seed = 0;
        int nodes = 4;
        CellOutputOptions output;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("sample", "Draw uniform random cells of the DARTS space (seeded)");
    command->add_option("--count", options->count, "How many genotypes")->capture_default_str();
    command->add_option("--seed", options->seed, "Random seed; the same seed gives the same cells everywhere")
        ->check(seed_rule_check())
        ->capture_default_str();
    command->add_option("--nodes", options->nodes, "Intermediate nodes per cell")->capture_default_str();
    options->output.add_to(*command);
    command->callback([options] {
        const auto genotypes = sample_genotypes(options->count, options->seed, options->nodes);
        std::vector<NamedGenotype> cells;
        for (std::size_t i = 0; i < genotypes.size(); ++i)
            cells.push_back({fmt::format("random-s{}-{}", options->seed, i), genotypes[i]});
        print_cells(cells, options->output, false);
    });
}

}  // namespace cellscape::tools
