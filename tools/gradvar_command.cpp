#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "analysis/gradient_variance.hpp"
#include "commands.hpp"
#include "objective_options.hpp"
#include "util/error.hpp"

namespace cellscape::tools {

void add_gradvar_command(CLI::App& app) {
    struct Options {
        ObjectiveSource source;
        std::vector<std::string> checkpoints;
        ObjectiveOptions objective;
        int64_t batches = 20;
        std::string out;
        bool json = false;
    };
    auto options = std::make_shared<Options>();
    options->objective.batch_size = 128;
    auto* command = app.add_subcommand("gradvar", "Mini-batch gradient variance and gradient noise scale");
    add_objective_options(*command, options->source, options->objective);
    command->remove_option(command->get_option("--checkpoint"));
    command->remove_option(command->get_option("--samples"));
    command->add_option("--checkpoint", options->checkpoints, "Checkpoints (several: a series over training)");
    command->add_option("--batches", options->batches, "K: mini-batches, drawn without replacement")
        ->capture_default_str();
    command->add_option("--out", options->out, "Write the results to this HDF5 file");
    command->add_flag("--json", options->json, "Print JSON (a list for several checkpoints)");
    command->callback([options] {
        if (options->batches < 2) throw Error("--batches must be at least 2");
        ObjectiveOptions objective_options = options->objective;
        objective_options.samples = options->batches * objective_options.batch_size;
        std::vector<std::string> sources = options->checkpoints;
        if (sources.empty()) sources.push_back("");  // the --torchscript model
        std::vector<GradientVariance> results;
        ObjectiveProvenance provenance;
        for (const std::string& checkpoint : sources) {
            ObjectiveSource source = options->source;
            source.checkpoint = checkpoint;
            Objective objective = Objective::load(source, objective_options);
            results.push_back(gradient_variance(objective));
            provenance = objective.provenance();
        }
        if (!options->out.empty()) {
            std::vector<std::string> names;
            for (const auto& checkpoint : sources) names.push_back(checkpoint.empty() ? options->source.torchscript : checkpoint);
            write_gradient_variance_file(options->out, names, results, provenance, command_line());
        }
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        for (const auto& result : results) out.push_back(gradient_variance_json(result));
        std::cout << (results.size() == 1 ? out.front() : out).dump(options->json ? 2 : -1) << "\n";
    });
}

}  // namespace cellscape::tools
