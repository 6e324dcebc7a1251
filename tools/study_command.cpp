#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <memory>
#include <thread>

#include "commands.hpp"
#include "local_jobs.hpp"
#include "objective_options.hpp"
#include "slurm_submission.hpp"
#include "cellscape/study/study.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"

namespace cellscape::tools {
namespace {

// A table as a list of row objects, the JSON contract of `study --json`
// (docs/study.md): the same names as summary.h5's columns, NaN as null.
nlohmann::ordered_json table_json(const StudyTable& table) { return column_table_json(table); }

// --jobs N: the replicates as child processes (local_jobs.hpp); their
// failures are printed here, and the summary that follows lists them.
void run_side_by_side(const StudyConfig& config, const std::string& config_path, const std::string& out, int jobs) {
    const unsigned cores = std::thread::hardware_concurrency();
    const int threads = config.threads > 0 ? config.threads : static_cast<int>(cores);
    if (cores > 0 && static_cast<unsigned>(jobs * threads) > cores)
        progress_sink()->note(fmt::format("note: {} jobs x {} threads each is more than this machine's {} cores; "
                                          "set threads in {} (or --jobs) so that their product is at most {}",
                                          jobs, threads, cores, config_path, cores));
    const auto failures = run_replicates_locally(config, config_path, out, jobs, progress_sink());
    for (const LocalJobFailure& failure : failures)
        progress_sink()->note(fmt::format("replicate {} failed: {}", failure.replicate + 1, failure.description));
}

}  // namespace

void add_study_command(CLI::App& app) {
    struct Options {
        std::string config;
        std::string out;
        bool json = false;
        std::optional<std::size_t> replicate_index;
        std::optional<std::size_t> pack_index;
        bool collect = false;
        bool skip_surfaces = false;
        std::optional<int64_t> surface_shard;
        bool slurm = false;
        SlurmOptions slurm_options;
        std::optional<int> jobs;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("study", "Train and analyse a set of cells; summary table and files for plots");
    // Required unless the plan subcommand runs instead (checked in the callback).
    command->add_option("config", options->config, "Study configuration (TOML), e.g. data/studies/quick.toml");
    command->add_option("--out", options->out, "Output directory (rerun the same command to resume)");
    add_study_plan_command(*command);
    command->add_flag("--json", options->json,
                      "Print the three tables (replicates, cells, associations) as JSON instead of tables");
    command->add_option("--replicate-index,--cell-index", options->replicate_index,
                        "Only this (cell, seed) pair (0-based, cell by cell; a Slurm array task), no summary");
    command->add_option("--pack-index", options->pack_index,
                        "Only this pack of a cell's seeds (0-based; with pack > 1 a Slurm array task or --jobs "
                        "process), trained as one network, no summary");
    command->add_flag("--collect", options->collect,
                      "Compute nothing: summarize the replicates' files (unfinished ones fail)");
    command->add_flag("--skip-surfaces", options->skip_surfaces,
                      "With --replicate-index: leave the surfaces to shard tasks");
    command->add_option("--surface-shard", options->surface_shard,
                        "With --replicate-index: only shard I of its surfaces (of slurm.surface_shards)");
    command->add_option("--jobs,-j", options->jobs,
                        "Replicates run side by side, each a process with the config's threads (default 1: one "
                        "after another in this process)");
    command->add_flag("--slurm", options->slurm, "Submit as a Slurm job array (one task per cell) and a summary job");
    command->add_option("--partition", options->slurm_options.partition, "Slurm partition");
    command->add_option("--cpus-per-task", options->slurm_options.cpus_per_task, "Slurm CPUs per cell task");
    command->add_option("--gpus-per-task", options->slurm_options.gpus_per_task, "Slurm GPUs per cell task");
    command->add_option("--time", options->slurm_options.time, "Slurm time limit per task, e.g. 24:00:00");
    command->add_flag("--dry-run", options->slurm_options.dry_run, "With --slurm: write and print the scripts only");
    if (const char* python = std::getenv("CELLSCAPE_PYTHON")) options->slurm_options.figures_python = python;
    command->add_option("--figures-python", options->slurm_options.figures_python,
                        "With --slurm: the Python with cellscape_plots that draws the figures "
                        "(default: $CELLSCAPE_PYTHON, else python3)");
    command->callback([options, command] {
        if (command->got_subcommand("plan")) return;
        if (options->config.empty()) throw CLI::RequiredError("config");
        if (options->out.empty()) throw CLI::RequiredError("--out");
        const StudyConfig config = StudyConfig::load(options->config);
        validate_study(config);  // every setting, before anything is trained or submitted
        // The flags that run one part of a study (what --slurm's jobs run).
        const bool names_a_part = options->replicate_index || options->pack_index || options->collect ||
                                  options->skip_surfaces || options->surface_shard.has_value();
        if (options->jobs) {
            if (*options->jobs < 1)
                throw Error(fmt::format("--jobs {}: must be at least 1 (the number of replicates run at once)",
                                        *options->jobs));
            if (options->slurm || names_a_part)
                throw Error("--jobs runs the whole study on this machine; drop it with --slurm, --replicate-index, "
                            "--pack-index, --collect, --skip-surfaces or --surface-shard");
        }
        if (options->slurm) {
            if (names_a_part)
                throw Error("--slurm submits the whole study; --replicate-index, --pack-index, --collect, "
                            "--skip-surfaces and --surface-shard are what its jobs run");
            const SlurmSubmission submission =
                submit_study_to_slurm(config, options->config, options->out, options->slurm_options);
            if (options->slurm_options.dry_run) {
                for (const auto& script : {submission.cells_script, submission.surfaces_script, submission.summary_script})
                    if (!script.empty())
                        std::cout << "# " << script.string() << "\n" << std::ifstream(script).rdbuf() << "\n";
                return;
            }
            std::cout << nlohmann::ordered_json{{"cells_job", submission.cells_job},
                                                {"surfaces_job", submission.surfaces_job},
                                                {"summary_job", submission.summary_job},
                                                {"replicates", submission.replicates},
                                                {"tasks", submission.tasks},
                                                {"cells_script", submission.cells_script.string()},
                                                {"summary_script", submission.summary_script.string()}}
                             .dump(options->json ? 2 : -1)
                      << "\n";
            return;
        }
        StudyPart part;
        part.only_replicate = options->replicate_index;
        part.only_pack = options->pack_index;
        part.collect_only = options->collect;
        part.skip_surfaces = options->skip_surfaces;
        part.surface_shard = options->surface_shard;
        try {
            set_threads(config.threads);
        } catch (const SettingError& error) {
            throw study_config_error(config.source, "", "threads", error.problem());
        }
        apply_cuda_float32(config.cuda_float32);  // validate_study checked it
        if (options->jobs.value_or(1) > 1) {
            run_side_by_side(config, options->config, options->out, *options->jobs);
            part.collect_only = true;  // every replicate's files are written: summarize them here
        }
        InterruptGuard interrupts;  // Ctrl-C: finished replicates and steps are kept, then a sentence
        const StudyResult result = run_study(config, options->out, command_line(), part, progress_sink());
        if (part.only_replicate) {
            if (result.failed_replicates > 0)
                throw Error(fmt::format("replicate {} failed: {}", *part.only_replicate, result.rows.front().status));
            return;
        }
        if (part.only_pack) {
            for (const StudyRow& row : result.rows)
                if (row.status.rfind("failed", 0) == 0)
                    throw Error(fmt::format("pack {}: {} of its replicates failed; {} seed {} {}", *part.only_pack,
                                            result.failed_replicates, row.cell, row.seed, row.status));
            return;
        }
        if (options->json) {
            nlohmann::ordered_json json{{"summary", result.summary.string()},
                                        {"failed_replicates", result.failed_replicates},
                                        {"replicates", table_json(replicates_table(result.rows))},
                                        {"cells", table_json(cells_table(result.cells))},
                                        {"associations", table_json(associations_table(result.associations))},
                                        {"metric_associations",
                                         table_json(metric_associations_table(result.metric_associations))},
                                        {"mediation", table_json(mediation_table(result.mediation))}};
            if (!result.parts.empty()) json["parts"] = table_json(parts_table(result.parts));
            std::cout << json.dump(2) << "\n";
        } else {
            std::cout << format_study_result(result, config)
                      << fmt::format("summary: {}\n", result.summary.string());
        }
        if (result.failed_replicates > 0)
            throw Error(fmt::format("{} replicate(s) failed (see the table and the messages above); the others' "
                                    "results are in {}",
                                    result.failed_replicates, result.summary.string()));
    });
}

}  // namespace cellscape::tools
