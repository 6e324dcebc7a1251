#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cellscape/analysis/hessian_file.hpp"
#include "cellscape/util/interrupt.hpp"
#include "commands.hpp"
#include "objective_options.hpp"

namespace cellscape::tools {

void add_hessian_command(CLI::App& app) {
    struct Options {
        ObjectiveFlags objective;
        HessianRequest request;
        std::string solver = "lanczos";
        std::string by_part;
        OutputFile out;
        bool json = false;
    };
    auto options = std::make_shared<Options>();
    auto& request = options->request;
    auto* command = app.add_subcommand("hessian", "Hessian spectrum of the loss: top/bottom eigenvalues, trace, density");
    add_objective_options(*command, options->objective);
    command->add_option("--top-k", request.top.count, "Largest eigenvalues to compute (0: none)")->capture_default_str();
    command->add_option("--bottom-k", request.bottom.count, "Smallest eigenvalues to compute")->capture_default_str();
    command->add_option("--tol", request.top.tol,
                        "Relative error each eigenvalue must reach (Lanczos' residual-based estimate)")
        ->capture_default_str();
    command->add_option("--max-hvps", request.top.max_hvps, "HVP budget for each end of the spectrum")
        ->capture_default_str();
    command->add_option("--min-hvps", request.top.min_hvps,
                        "HVPs before an eigenvalue may count as converged (guards against stopping at the second)")
        ->capture_default_str();
    command->add_option("--max-seconds", request.top.max_seconds, "Time budget for each end (0: none)")
        ->capture_default_str();
    command->add_option("--ncv", request.top.ncv, "Lanczos basis size before a restart (0: automatic)")
        ->capture_default_str();
    command->add_option("--solver", options->solver,
                        "Eigensolver: lanczos (cellscape's: stops at the first product that converges) or spectra "
                        "(Spectra's SymEigsSolver)")
        ->check(CLI::IsMember({"lanczos", "spectra"}))
        ->capture_default_str();
    command->add_flag("--eigenvectors", request.top.keep_vectors, "Store the eigenvectors, per parameter tensor");
    command->add_flag("--trace", request.trace, "Estimate the trace (Hutchinson, Rademacher probes)");
    command->add_option("--trace-rtol", request.trace_options.rtol,
                        "Stop when the standard error is below this fraction of the trace")
        ->capture_default_str();
    command->add_option("--trace-max-probes", request.trace_options.max_probes, "Probe budget")->capture_default_str();
    command->add_flag("--density", request.density, "Spectral density by stochastic Lanczos quadrature");
    command->add_option("--slq-steps", request.density_options.steps, "Lanczos steps per run")->capture_default_str();
    command->add_option("--slq-runs", request.density_options.runs, "Random starting vectors")->capture_default_str();
    command->add_option("--slq-sigma", request.density_options.sigma, "Gaussian width (0: 1% of the spectral range)")
        ->capture_default_str();
    command->add_option("--by-part", options->by_part,
                        "Also per part of the network: each part's top eigenvalue (of its diagonal Hessian block) "
                        "and share of the trace; cell (stem, each cell, classifier) or edge (each cell's "
                        "preprocessing and edges)")
        ->check(one_of<PartLevel>());
    options->out.add_to(*command, "Write the results to this HDF5 file");
    command->add_flag("--json", options->json, "Print a JSON summary on stdout");
    command->callback([options] {
        HessianRequest& settings = options->request;
        settings.top.solver = parse_name<EigenSolver>(options->solver, "solver");
        if (!options->by_part.empty()) settings.parts = parse_name<PartLevel>(options->by_part, "by_part");
        // One set of Lanczos settings for both ends of the spectrum.
        const int64_t bottom_count = settings.bottom.count;
        settings.bottom = settings.top;
        settings.bottom.count = bottom_count;
        settings.trace_options.seed = settings.density_options.seed = options->objective.samples.seed;
        settings.validate();
        const auto lock = options->out.claim(inputs_of(options->objective.source));
        const EvaluationSamples samples = options->objective.resolve_samples();
        const ObjectiveOptions objective_options = options->objective.resolve();
        apply_threads(options->objective.threads, options->objective.source.checkpoint);
        apply_cuda_float32(options->objective.cuda_float32);
        Objective objective = Objective::load(options->objective.source, samples, objective_options);
        InterruptGuard interrupts;  // Ctrl-C: a sentence, not a dead process (nothing is saved before the end)
        const HessianReport report = analyse_hessian(objective, settings, progress_sink());
        if (!options->out.path.empty())
            write_hessian_file(options->out.path, objective, report,
                               analysis_record(samples.seed,
                                               hessian_settings_json({samples, objective_options, settings})));
        auto summary = hessian_json(objective, report);
        if (!options->out.path.empty()) summary["out"] = options->out.path;
        std::cout << summary.dump(options->json ? 2 : -1) << "\n";
        // The results are written (unmet eigenvalues as NaN); the exit status says they are incomplete.
        if (const auto unmet = unmet_tolerance(report, settings))
            throw Error(*unmet + ": raise --max-hvps or --max-seconds, or loosen --tol");
    });
}

}  // namespace cellscape::tools
