#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <optional>

#include "cellscape/analysis/gradient_variance_file.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "commands.hpp"
#include "objective_options.hpp"

namespace cellscape::tools {

void add_gradvar_command(CLI::App& app) {
    struct Options {
        ObjectiveFlags objective;
        std::vector<std::string> checkpoints;
        int64_t batches = 20;
        std::string by_part;
        OutputFile out;
        bool json = false;
    };
    auto options = std::make_shared<Options>();
    options->objective.options.batch_size = 128;
    auto* command = app.add_subcommand("gradvar", "Mini-batch gradient variance and gradient noise scale");
    add_objective_options(*command, options->objective);
    command->remove_option(command->get_option("--checkpoint"));
    command->remove_option(command->get_option("--samples"));
    command->add_option("--checkpoint", options->checkpoints, "Checkpoints (several: a series over training)");
    command->add_option("--batches", options->batches, "K: mini-batches, drawn without replacement")
        ->capture_default_str();
    command->add_option("--by-part", options->by_part,
                        "Also the variance per part of the network: cell (stem, each cell, classifier) or edge (each "
                        "cell's preprocessing and edges)")
        ->check(one_of<PartLevel>());
    options->out.add_to(*command, "Write the results to this HDF5 file");
    command->add_flag("--json", options->json, "Print JSON (a list for several checkpoints)");
    command->callback([options] {
        if (options->batches < 2) throw SettingError("batches", fmt::format("must be at least 2 (got {})", options->batches));
        const int64_t batch_size = options->objective.options.batch_size;
        if (batch_size < 1) throw SettingError("batch_size", fmt::format("must be at least 1 (got {})", batch_size));
        NamedInputs inputs = inputs_of(options->objective.source);
        for (const std::string& checkpoint : options->checkpoints) inputs.emplace_back(checkpoint, "checkpoint");
        const auto lock = options->out.claim(inputs);
        ObjectiveFlags flags = options->objective;
        flags.samples.samples = options->batches * batch_size;
        std::vector<std::string> sources = options->checkpoints;
        if (sources.empty()) sources.push_back("");  // the --torchscript model
        flags.source.checkpoint = sources.front();
        const EvaluationSamples samples = flags.resolve_samples();
        const ObjectiveOptions objective_options = flags.resolve();
        apply_threads(flags.threads, sources.front());
        apply_cuda_float32(flags.cuda_float32);
        std::vector<GradientVariance> results;
        ObjectiveProvenance provenance;
        InterruptGuard interrupts;  // Ctrl-C: a sentence, not a dead process (nothing is saved before the end)
        for (const std::string& checkpoint : sources) {
            if (InterruptGuard::requested())
                throw Interrupted(InterruptGuard::signal_number(), "interrupted; nothing is saved: run it again");
            ObjectiveSource source = flags.source;
            source.checkpoint = checkpoint;
            std::optional<Objective> loaded;
            try {
                loaded.emplace(Objective::load(source, samples, objective_options));
            } catch (const SettingError& error) {
                // The sample count is --batches x --batch-size here: say so, not "samples".
                if (error.setting() != "samples") throw;
                throw Error(fmt::format("--batches x --batch-size = {} x {} = {} samples: {}; lower --batches or "
                                        "--batch-size",
                                        options->batches, batch_size, samples.samples, error.problem()));
            }
            Objective& objective = *loaded;
            results.push_back(gradient_variance(objective, progress_sink()));
            provenance = objective.provenance();
        }
        std::optional<PartLevel> parts;
        if (!options->by_part.empty()) parts = parse_name<PartLevel>(options->by_part, "by_part");
        if (!options->out.path.empty()) {
            std::vector<std::string> names;
            for (const auto& checkpoint : sources)
                names.push_back(checkpoint.empty() ? flags.source.torchscript : checkpoint);
            const OutputRecord record = analysis_record(
                samples.seed, gradient_variance_settings_json({samples, objective_options, options->batches, parts}));
            write_gradient_variance_file(options->out.path, names, results, provenance, record, parts);
        }
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        for (const auto& result : results) {
            out.push_back(gradient_variance_json(result));
            if (parts) out.back().update(gradient_variance_parts_json(gradient_variance_by_part(result, *parts)));
        }
        std::cout << (results.size() == 1 ? out.front() : out).dump(options->json ? 2 : -1) << "\n";
    });
}

}  // namespace cellscape::tools
