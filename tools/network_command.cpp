#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cellscape/util/memory.hpp"
#include "cellscape/cells/cell_spec.hpp"
#include "commands.hpp"
#include "cellscape/nn/network_config.hpp"
#include "cellscape/nn/network_size.hpp"

namespace cellscape::tools {

void add_network_command(CLI::App& app) {
    struct Options {
        std::string spec;
        nn::NetworkConfig config;
        std::string input_shape = "3x32x32";
        bool json = false;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("network", "Summarize the DARTS network built from a cell");
    command->add_option("CELL", options->spec, "The cell (anything `cellscape cell` accepts)")->required();
    command->add_option("--init-channels", options->config.init_channels, "Initial channels C")->capture_default_str();
    command->add_option("--layers", options->config.layers, "Number of cells")->capture_default_str();
    command->add_option("--classes", options->config.classes, "Number of classes")->capture_default_str();
    command->add_option("--input-shape", options->input_shape, "CHANNELSxHEIGHTxWIDTH")->capture_default_str();
    command->add_flag("--auxiliary", options->config.auxiliary, "Include the auxiliary head");
    command->add_flag("--json", options->json, "Print JSON");
    command->callback([options] {
        options->config.input_shape = nn::parse_input_shape(options->input_shape);
        options->config.validate();
        const NamedGenotype cell = resolve_cell(options->spec);
        // Building the network allocates its weights: say what does not fit, before.
        if (const auto available = available_memory_bytes())
            nn::require_fits_in_memory(nn::network_size(cell.genotype, options->config), options->config, 1, 4, false,
                                       *available);
        const auto summary = nn::network_summary(cell.name, cell.genotype, options->config);
        if (options->json) {
            std::cout << summary.dump(2) << "\n";
            return;
        }
        std::cout << fmt::format("{}: C={}, {} cells, {} classes, input {}\n", cell.name,
                                 options->config.init_channels, options->config.layers, options->config.classes,
                                 options->input_shape);
        std::cout << fmt::format("parameters: {} (auxiliary head: {}); multiply-adds per sample: {}\n",
                                 summary["parameters"].get<int64_t>(), summary["auxiliary_parameters"].get<int64_t>(),
                                 summary["multiply_adds"].get<int64_t>());
        int layer = 0;
        for (const auto& c : summary["cells"])
            std::cout << fmt::format("  cell {:>2} {:<6}  C={:<4} out channels {:<5} size {}x{}\n", layer++,
                                     c["type"].get<std::string>(), c["node_channels"].get<int64_t>(),
                                     c["output_channels"].get<int64_t>(), c["output_size"][0].get<int64_t>(),
                                     c["output_size"][1].get<int64_t>());
    });
}

}  // namespace cellscape::tools
