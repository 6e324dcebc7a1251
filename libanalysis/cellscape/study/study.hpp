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
#include "cellscape/study/replicates.hpp"
#include "cellscape/study/study_config.hpp"
#include "cellscape/study/study_tables.hpp"
#include "cellscape/study/summary_file.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {

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

// The summary's tables from the replicates' rows (statistics.seed seeds
// every resample and simulation).
void summarize_study(StudyResult& result, const StudyStatistics& statistics);

// A study's outputs for people: the per-cell means with intervals, the
// verdicts, the metrics against convergence speed and the mediation
// estimates; with one seed, every row as measured.
std::string format_study_result(const StudyResult& result, const StudyConfig& config);

}  // namespace cellscape
