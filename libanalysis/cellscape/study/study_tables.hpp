#pragma once
// A study's three tables (docs/study.md, "Tables"): one row per replicate
// (cell, seed, analysis epoch) as measured; one per cell and epoch with each
// metric's mean and 95% Student-t interval over the replicates; and one per
// metric and predictor (normal-cell width or depth) with Spearman's rho of
// the cells' means, its two-level bootstrap interval, a permutation
// p-value, and whether the paper's direction holds (docs/science.md
// section 7). Torch-free.
#include <cmath>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "cellscape/study/statistics.hpp"

namespace cellscape {

struct StudyRow {
    std::string cell, genotype, status;  // status: "ok", or what failed
    std::string directory;               // the replicate's directory, relative to the study's
    int64_t seed = 0;                    // its training seed
    double normal_width = 0, reduce_width = 0;
    int64_t normal_depth = 0, reduce_depth = 0, parameters = 0, epoch = 0;
    double train_loss = NAN, train_accuracy = NAN, test_loss = NAN, test_accuracy = NAN;
    // Epochs (at step resolution) until the training loss, averaged over a
    // quarter epoch of steps, first reaches the threshold; NaN if never.
    double epochs_to_threshold = NAN;
    double top_eigenvalue = NAN, trace = NAN, gradient_variance = NAN, noise_scale = NAN;
    // Means over the replicate's direction pairs (analysis/basin.hpp).
    double basin_fraction = NAN, basin_radius = NAN;
};

// A measured column of StudyRow, and the sign of its rank correlation with
// the normal cell's width that the paper's claim implies (+1: grows with
// width, -1: falls, 0: the paper claims nothing; docs/science.md section 7).
struct StudyMetric {
    const char* name;
    double StudyRow::*field;
    int sign_with_width;
};
const std::vector<StudyMetric>& study_metrics();

struct StudyCellRow {
    std::string cell, genotype, directory;  // the cell's directory (its replicates' parent, or itself)
    double normal_width = 0, reduce_width = 0;
    int64_t normal_depth = 0, reduce_depth = 0, parameters = 0, epoch = 0;
    int64_t n = 0;                       // finished replicates
    std::vector<MeanInterval> metrics;   // in study_metrics() order
};

struct StudyAssociationRow {
    int64_t epoch = 0;
    std::string metric, predictor, controlling;  // controlling: "" or the predictor held fixed
    Association association;
    int expected_sign = 0;  // what the paper implies for rho; 0: no claim
    std::string verdict;    // "holds", "reversed", "undecided", "no claim"
};

// Per-cell means and intervals over the replicates whose status is "ok",
// in the order cells first appear in `rows`, one row per analysis epoch.
std::vector<StudyCellRow> summarize_cells(const std::vector<StudyRow>& rows);

// For every epoch, metric and predictor in {normal_width, normal_depth}: the
// association over cells (each cell's replicates of that epoch), and the
// same with the other predictor held fixed (a partial rank correlation),
// which separates the two where they are collinear.
std::vector<StudyAssociationRow> associate_metrics(const std::vector<StudyRow>& rows,
                                                   const AssociationOptions& options);

// "holds" when the interval excludes 0 on the expected side and p < 0.05,
// "reversed" when it does so on the other side, "undecided" otherwise.
std::string association_verdict(const Association& association, int expected_sign);

// A table as named columns of equal length, the form summary.h5 and
// the study command's JSON output take.
struct StudyTable {
    using Values = std::variant<std::vector<std::string>, std::vector<double>, std::vector<int64_t>>;
    std::vector<std::pair<std::string, Values>> columns;
};
StudyTable replicates_table(const std::vector<StudyRow>& rows);
StudyTable cells_table(const std::vector<StudyCellRow>& cells);
StudyTable associations_table(const std::vector<StudyAssociationRow>& associations);

// For people: the cells' means with their intervals (sorted by width), and
// the verdicts against the cells' width.
std::string format_cells_table(std::vector<StudyCellRow> cells);
std::string format_verdict_table(const std::vector<StudyAssociationRow>& associations);
// Every replicate's row (sorted by width), as measured.
std::string format_replicates_table(std::vector<StudyRow> rows);

}  // namespace cellscape
