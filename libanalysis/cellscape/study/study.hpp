#pragma once
// The study (PAPER.md section 4, the main job): every cell of a config is
// trained under the same settings and analysed at the same checkpoints
// (Hessian, loss surface, gradient variance); one summary row per cell and
// checkpoint ranks them by width, depth, convergence, sharpness and noise.
//
// Layout under the output directory:
//   DIR/<cell>/cell.png                  the cell diagram (width and depth in the titles)
//   DIR/<cell>/train/epoch-NNNN.h5       checkpoints (latest.h5 while training)
//   DIR/<cell>/hessian-epoch-NNNN.h5     per analysis checkpoint
//   DIR/<cell>/surface-epoch-NNNN.h5
//   DIR/<cell>/gradvar-epoch-NNNN.h5
//   DIR/summary.h5                       one row per cell and analysis checkpoint
// Work whose output exists is skipped, so an interrupted study resumes.
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/study/study_config.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {

inline constexpr const char* study_summary_format = "cellscape-study";

struct StudyRow {
    std::string cell, genotype, status;  // status: "ok", or what failed
    std::string directory;               // the cell's directory, relative to the study's
    double normal_width = 0, reduce_width = 0;
    int64_t normal_depth = 0, reduce_depth = 0, parameters = 0, epoch = 0;
    double train_loss = NAN, train_accuracy = NAN, test_loss = NAN, test_accuracy = NAN;
    // Epochs (at step resolution) until the training loss, averaged over a
    // quarter epoch of steps, first reaches the threshold; NaN if never.
    double epochs_to_threshold = NAN;
    double top_eigenvalue = NAN, trace = NAN, gradient_variance = NAN, noise_scale = NAN;
};

// Convergence speed at step resolution: the first step at which the mean of
// the last quarter epoch of step losses (at least one step) is at most
// `threshold`, in epochs (step / steps_per_epoch); NaN when none is.
double epochs_to_threshold(const std::vector<double>& step_losses, int64_t steps_per_epoch, double threshold);

// One column of the summary: summary.h5 and the command line's JSON give these, in
// this order, under these names.
struct StudyColumn {
    const char* name;
    std::variant<std::string StudyRow::*, double StudyRow::*, int64_t StudyRow::*> field;
};
const std::vector<StudyColumn>& study_columns();

struct StudyResult {
    std::vector<StudyRow> rows;
    int64_t failed_cells = 0;
    std::filesystem::path summary;
};

// Which part of a study one process does.
struct StudyPart {
    // Only this cell (0-based, in the order of the config's cells as
    // resolved): a Slurm array task. No summary is written.
    std::optional<std::size_t> only_cell;
    // Compute nothing: summarize what the cells' files hold; a cell whose
    // files are incomplete gets the status "not finished" (the final job of
    // a Slurm study).
    bool collect_only = false;
    // Split surfaces (slurm.surface_shards > 1): the cell's task leaves its
    // surfaces to shard tasks, each of which computes only shard I of every
    // analysis epoch's surface (surface-epoch-NNNN.shard-I-of-N.h5); the
    // collecting job merges them.
    bool skip_surfaces = false;
    std::optional<int64_t> surface_shard;
};

// What went wrong in one cell, in a sentence, whatever the exception (an
// Error's message, LibTorch's c10::Error, running out of memory, any
// std::exception): one cell's failure must not end the study. Interrupted
// is not a failure and is rethrown.
std::string describe_failure(const std::exception_ptr& failure);

// Checks every setting of the config that needs LibTorch to check (the
// device, each analysis's settings, the cells), naming the file, the
// section and the key; run_study calls it before any work.
void validate_study(const StudyConfig& config);

// Runs (or resumes) the study. A cell that fails, whatever the exception, is
// reported in its rows and the others go on; an interrupt (SIGINT/SIGTERM)
// stops the study after saving what finished, with Interrupted, and writes
// no summary. Finished outputs are reused only when they were made with
// the config's settings; otherwise the cell fails, saying which setting
// differs. Progress: cells, and everything each cell runs.
StudyResult run_study(const StudyConfig& config, const std::filesystem::path& out_dir, const std::string& command,
                      const StudyPart& part = {}, ProgressSink* progress = nullptr);

// Whether every output of `cell` (final checkpoint, each analysis) exists.
bool study_cell_finished(const StudyConfig& config, const std::filesystem::path& out_dir, const NamedGenotype& cell);

// The cells of a config, resolved and named, in order.
std::vector<NamedGenotype> study_cells(const StudyConfig& config);

// The rows as a table for people, sorted by normal-cell width.
std::string format_study_table(std::vector<StudyRow> rows);

// A directory name for a cell name ("DARTS_V2-random-connections-s1-0").
std::string cell_directory_name(const std::string& cell_name);

}  // namespace cellscape
