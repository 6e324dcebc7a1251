#pragma once
// Running a study's replicates side by side on one machine: each unfinished
// (cell, seed) pair is a child `cellscape study CONFIG --out DIR
// --replicate-index I` (what a Slurm array task runs), at most `jobs` at a
// time, each with the config's threads. Small networks use a core better as
// a replicate of their own than as a second intra-op thread
// (docs/performance.md), so `--jobs 2` with `threads = 1` finishes a study
// on 2 cores sooner than one process with 2 threads.
//
// Each child writes its progress and messages to DIR/<replicate>/study.log
// (appended). SIGINT or SIGTERM reaches the children (the terminal's
// process group, or forwarded), which save their work as a sequential study
// does; if this process is killed outright (kill -9), the kernel sends each
// child SIGTERM (PR_SET_PDEATHSIG). Rerunning the same command continues.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "cellscape/study/study.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape::tools {

struct LocalJobFailure {
    std::size_t replicate = 0;   // index in study_replicates' order
    std::string description;     // "DARTS_V2 seed 2: <the child's error line> (log: PATH)"
};

// Runs the unfinished replicates as above and returns those whose child
// failed. Throws Interrupted (after every child has stopped) on SIGINT or
// SIGTERM, and Error when a child cannot be started.
std::vector<LocalJobFailure> run_replicates_locally(const StudyConfig& config,
                                                     const std::filesystem::path& config_path,
                                                     const std::filesystem::path& out_dir, int jobs,
                                                     ProgressSink* progress);

}  // namespace cellscape::tools
