#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <memory>

#include "cellscape/analysis/proxies_file.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "commands.hpp"
#include "objective_options.hpp"

namespace cellscape::tools {

void add_proxies_command(CLI::App& app) {
    struct Options {
        ObjectiveFlags objective;
        std::vector<std::string> proxies;
        int64_t zico_batches = ProxyOptions{}.zico_batches;
        OutputFile out;
        bool json = false;
    };
    auto options = std::make_shared<Options>();
    // One batch of 64, as the reference code's batches of the NAS benchmarks.
    options->objective.samples.samples = 64;
    auto* command = app.add_subcommand(
        "proxies",
        "Zero-cost proxies (grad_norm, snip, grasp, fisher, synflow, jacob_cov, naswot, zico) of a model on one batch");
    add_objective_options(*command, options->objective);
    // Every proxy takes its samples as one batch, with BatchNorm on the batch's statistics.
    for (const char* unused : {"--batch-size", "--bn", "--hvp-memory", "--params", "--group"})
        command->remove_option(command->get_option(unused));
    command->add_option("--proxies", options->proxies, "Which proxies (default: all)")
        ->check(one_of<Proxy>())
        ->delimiter(',');
    command->add_flag("--initial", options->objective.source.initial_weights,
                      "Score the network the checkpoint's run started from (rebuilt from its seed), as NAS scores an "
                      "untrained candidate, instead of the checkpoint's weights")
        ->needs("--checkpoint");
    command->add_option("--zico-batches", options->zico_batches,
                        "ZiCo: the samples in this many equal batches (at least 2)")
        ->capture_default_str();
    options->out.add_to(*command, "Write the scores to this HDF5 file");
    command->add_flag("--json", options->json, "Print the scores as indented JSON");
    command->callback([options] {
        ProxyOptions settings;
        if (!options->proxies.empty()) {
            settings.proxies.clear();
            for (const std::string& name : options->proxies) settings.proxies.push_back(parse_name<Proxy>(name, "proxies"));
        }
        settings.zico_batches = options->zico_batches;
        const ObjectiveFlags& flags = options->objective;
        const EvaluationSamples samples = flags.resolve_samples();
        const ObjectiveOptions objective_options = flags.resolve();
        settings.device = objective_options.device;
        settings.dtype = objective_options.dtype;
        const auto lock = options->out.claim(inputs_of(flags.source));
        apply_threads(flags.threads, flags.source.checkpoint);
        apply_cuda_float32(flags.cuda_float32);
        LoadedModel loaded = load_model_and_samples(flags.source, samples);
        settings.validate(loaded.samples.size());
        InterruptGuard interrupts;  // Ctrl-C: a sentence, not a dead process (nothing is saved before the end)
        const ProxyScores scores = zero_cost_proxies(*loaded.model, loaded.samples, settings, progress_sink());
        if (scores.scores.empty()) {
            std::vector<std::string> reasons;
            for (const auto& [proxy, reason] : scores.refused) reasons.push_back(fmt::format("{} {}", name_of(proxy), reason));
            throw SettingError("proxies", fmt::format("has no proxy this model gives a value for: {}; ask for another "
                                                      "proxy or score another model",
                                                      fmt::join(reasons, "; ")));
        }
        if (!options->out.path.empty())
            write_proxies_file(options->out.path, scores, proxies_provenance(loaded.provenance, scores, settings),
                               analysis_record(samples.seed, proxy_settings_json({samples, settings})));
        auto json = proxies_json(scores);
        if (!options->out.path.empty()) json["out"] = options->out.path;
        std::cout << json.dump(options->json ? 2 : -1) << "\n";
    });
}

}  // namespace cellscape::tools
