#pragma once
// Running a study on a Slurm cluster: a job array with one task per
// unfinished replicate ((cell, seed): train, then its analyses), with slurm.surface_shards
// = N > 1 a second array of N surface shards per replicate after it, and a final
// job that depends on them, merges the shards, writes the summary from the
// cells' files and draws the figures. The scripts live in DIR/slurm/, the logs in DIR/slurm/logs/.
#include <filesystem>
#include <string>
#include <vector>

#include "cellscape/study/study_config.hpp"

namespace cellscape {

struct SlurmOptions {
    std::string partition;  // empty: the cluster's default
    int cpus_per_task = 0;  // 0: not requested (the cluster's default)
    int gpus_per_task = 0;
    std::string time;       // e.g. "24:00:00"; empty: the partition's limit
    bool dry_run = false;   // write and print the scripts, submit nothing
    // The summary job draws the figures with this interpreter when it can
    // import cellscape_plots (scripts/install-deps.sh puts it in .venv).
    std::string figures_python = "python3";
};

struct SlurmSubmission {
    std::filesystem::path cells_script, surfaces_script, summary_script;  // surfaces: with slurm.surface_shards > 1
    std::vector<std::size_t> replicates;  // the (cell, seed) pairs still to do
    std::vector<std::size_t> tasks;       // the cells array's task indices: those pairs, or with pack > 1 their packs
    std::string cells_job, surfaces_job, summary_job;  // job ids; empty when not submitted
};

SlurmSubmission submit_study_to_slurm(const StudyConfig& config, const std::filesystem::path& config_path,
                                      const std::filesystem::path& out_dir, const SlurmOptions& options);

}  // namespace cellscape
