#pragma once
// The study (docs/science.md section 4, the main job): every cell of a
// config is trained under the same settings, once per seed, and analysed at
// the same checkpoints (Hessian, loss surfaces, gradient variance); three
// tables (study_tables.hpp) say what each replicate measured, each cell's
// means with intervals, and how each metric goes with width and depth.
//
// Layout under the output directory (R = <cell>/seed-<s> with `seeds`,
// <cell> without):
//   DIR/<cell>/cell.dot                  the cell diagram's DOT source
//   DIR/<cell>/cell.png                  the diagram (width and depth in the titles), drawn
//                                        by Graphviz; without it the study goes on and says
//                                        how to draw it from cell.dot
//   DIR/R/train/epoch-NNNN.h5            checkpoints (latest.h5 while training)
//   DIR/R/hessian-epoch-NNNN.h5          per analysis checkpoint
//   DIR/R/surface-epoch-NNNN.h5          direction pair 0
//   DIR/R/surface-epoch-NNNN-pair-K.h5   direction pair K >= 1
//   DIR/R/gradvar-epoch-NNNN.h5
//   DIR/summary.h5                       the three tables
// Work whose output exists is skipped, so an interrupted study resumes.
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/study/study_config.hpp"
#include "cellscape/study/study_tables.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {

inline constexpr const char* study_summary_format = "cellscape-study";
inline constexpr int64_t study_summary_format_version = 4;

// One (cell, seed) pair of a study: trained once with that seed, and
// analysed at every analysis epoch.
struct StudyReplicate {
    NamedGenotype cell;
    std::size_t cell_index = 0;  // in study_cells' order
    uint64_t seed = 0;
    std::string directory;  // relative to the study's: <cell>/seed-<s>, or <cell> without `seeds`
    std::string population;  // the cell spec's (cells/cell_spec.hpp, cell_population)
};

struct StudyResult {
    std::vector<StudyRow> rows;                        // the replicates table
    std::vector<StudyCellRow> cells;                   // means and intervals per cell
    std::vector<StudyAssociationRow> associations;     // rank associations and verdicts
    std::vector<StudyMetricAssociationRow> metric_associations;  // metric against metric
    std::vector<StudyMediationRow> mediation;          // width -> convergence through each metric
    std::vector<StudyPartRow> parts;                   // curvature and gradient variance by part (by_part)
    int64_t failed_replicates = 0;
    std::filesystem::path summary;
};

// Which part of a study one process does.
struct StudyPart {
    // Only this replicate (0-based, in study_replicates' order): a Slurm
    // array task. No summary is written.
    std::optional<std::size_t> only_replicate;
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

// Runs (or resumes) the study. Refused before any work when the output
// directory holds cells a spec gave before the variants' default changed
// (cells/cell_spec.hpp, former_default_spec), naming the key that keeps
// them. A cell that fails, whatever the exception, is
// reported in its rows and the others go on; an interrupt (SIGINT/SIGTERM,
// while the caller holds an InterruptGuard) stops the study after saving what finished, with Interrupted, and writes
// no summary. Finished outputs are reused only when they were made with
// the config's settings; otherwise the cell fails, saying which setting
// differs. Progress: cells, and everything each cell runs.
StudyResult run_study(const StudyConfig& config, const std::filesystem::path& out_dir, const std::string& command,
                      const StudyPart& part = {}, ProgressSink* progress = nullptr);

// Whether every output of a replicate (final checkpoint, each analysis) exists.
bool study_replicate_finished(const StudyConfig& config, const std::filesystem::path& out_dir,
                              const StudyReplicate& replicate);

// The cells of a config, resolved and named, in order.
std::vector<NamedGenotype> study_cells(const StudyConfig& config);

// The training seeds of the replicates: the config's seeds, or (none
// given) its training seed.
std::vector<uint64_t> study_seeds(const StudyConfig& config);

// Every (cell, seed) pair, cell by cell, seeds in the config's order.
std::vector<StudyReplicate> study_replicates(const StudyConfig& config);

// The replicates table of a study's summary.h5, as rows (a summary from
// before cellscape 0.2 has no population, censoring or cost columns: its
// rows get population "all", and NaN costs). Error naming the file for
// anything that is not a study summary or has columns of unequal length.
std::vector<StudyRow> read_study_replicates(const std::filesystem::path& summary);

// The summary's tables from the replicates' rows (statistics.seed seeds
// every resample and simulation).
void summarize_study(StudyResult& result, const StudyStatistics& statistics);

// A study's outputs for people: the per-cell means with intervals, the
// verdicts, the metrics against convergence speed and the mediation
// estimates; with one seed, every row as measured.
std::string format_study_result(const StudyResult& result, const StudyConfig& config);

// A directory name for a cell name ("DARTS_V2-random-connections-s1-0").
std::string cell_directory_name(const std::string& cell_name);

}  // namespace cellscape
