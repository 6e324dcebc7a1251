#pragma once
// A study's tables (docs/study.md, "Tables"): one row per replicate (cell,
// seed, analysis epoch) as measured; one per cell and epoch with each
// metric's mean and 95% Student-t interval over the replicates; one per
// population, metric and predictor (normal-cell width or depth) with
// Spearman's rho of the cells' means, its bootstrap interval (over cells), a
// permutation p-value, its Holm adjustment, the smallest |rho| the study
// could detect, an equivalence test and whether the paper's direction
// holds; one per pair of metrics (their rank correlation across cells); and
// one per mediator of width -> convergence (docs/science.md section 7).
// Torch-free.
#include <cmath>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "cellscape/io/column_table.hpp"
#include "cellscape/stats/mediation.hpp"
#include "cellscape/stats/statistics.hpp"

namespace cellscape {

struct StudyRow {
    std::string cell, genotype, status;  // status: "ok", or what failed
    std::string directory;               // the replicate's directory, relative to the study's
    std::string population;              // the cell's (cells/cell_spec.hpp, cell_population)
    int64_t seed = 0;                    // its training seed
    double normal_width = 0, reduce_width = 0;
    int64_t normal_depth = 0, reduce_depth = 0, parameters = 0, epoch = 0;
    double train_loss = NAN, train_accuracy = NAN, test_loss = NAN, test_accuracy = NAN;
    // Epochs (at step resolution) until the training loss, averaged over a
    // quarter epoch of steps, first reaches the threshold. A run that never
    // reaches it by the analysis epoch is censored there: it counts one step
    // after the epoch (ranked after every run that reached it), censored = 1.
    double epochs_to_threshold = NAN;
    int64_t censored = 0;
    double top_eigenvalue = NAN, trace = NAN, gradient_variance = NAN, noise_scale = NAN;
    // Means over the replicate's direction pairs (analysis/basin.hpp).
    double basin_fraction = NAN, basin_radius = NAN;
    // Whether training had levelled off: the share of the training loss's
    // decrease from epoch 1 to the analysis epoch made in that last epoch
    // ((loss[e-1] - loss[e]) / (loss[1] - loss[e]); NaN at epoch 1).
    double last_epoch_share = NAN;
    // What the replicate cost, as its files record it: training up to the
    // analysis epoch, and the analyses at it (NaN where a file predates the record).
    double train_seconds = NAN, analysis_seconds = NAN;
    // Zero-cost proxies of the replicate's initial network ([analysis.proxies],
    // analysis/proxies.hpp): the same in every analysis epoch's row; NaN when
    // not computed.
    double grad_norm = NAN, snip = NAN, grasp = NAN, fisher = NAN, synflow = NAN, jacob_cov = NAN, naswot = NAN,
           zico = NAN;
};

// Convergence speed at step resolution: the first step at which the mean of
// the last quarter epoch of step losses (at least one step) is at most
// `threshold`, in epochs (step / steps_per_epoch); NaN when none is.
double epochs_to_threshold(const std::vector<double>& step_losses, int64_t steps_per_epoch, double threshold);

// The same for a study's tables, censored: a run whose loss never reaches
// the threshold within its steps (its horizon, steps / steps_per_epoch
// epochs) counts one step after the horizon, the earliest it could still
// reach it, so it ranks after every run that did (a rank-based treatment
// of right-censoring, docs/science.md section 7); censored = true.
struct ConvergenceTime {
    double epochs = NAN;
    bool censored = false;
};
ConvergenceTime convergence_time(const std::vector<double>& step_losses, int64_t steps_per_epoch, double threshold);

// A measured column of StudyRow, and the sign of its rank correlation with
// the normal cell's width that the paper's claim implies (+1: grows with
// width, -1: falls, 0: the paper claims nothing; docs/science.md section 7).
// A metric of an optional analysis names it as its family ("proxies"): its
// columns appear in the tables only when some replicate measured it, and
// its association rows are Holm-adjusted as a family of their own, so that
// enabling the analysis leaves every other row's p_holm as it was. The
// metrics of the family "" (training, Hessian, gradient variance, basin)
// always have their columns and are adjusted together.
struct StudyMetric {
    const char* name;
    double StudyRow::*field;
    int sign_with_width;
    const char* family = "";
    bool optional() const { return family[0] != '\0'; }
};
inline constexpr const char* proxies_family = "proxies";
const std::vector<StudyMetric>& study_metrics();
// The metrics `rows` have columns for: every metric of the family "", and an
// optional family's metric when some row has a finite value of it.
std::vector<StudyMetric> measured_metrics(const std::vector<StudyRow>& rows);
// The Holm family of the metric named `name` ("" when it has none or is unknown).
std::string metric_family(const std::string& name);

// The values a study's rank tests, power and plans use for one metric,
// cell by cell (`cells[c]`: one cell's rows), with their seeds: the
// finished replicates' values (NaN kept in place), and for
// epochs_to_threshold their Gehan scores (statistics.hpp) among all the
// finished replicates given, so that a censored run counts only as "later
// than every run that reached the threshold", whatever number stands in
// for its time (docs/science.md section 7, "Censoring").
struct CellReplicates {
    std::vector<std::vector<double>> values;
    std::vector<std::vector<int64_t>> seeds;
};
CellReplicates rank_test_values(const std::vector<std::vector<const StudyRow*>>& cells, const StudyMetric& metric);

struct StudyCellRow {
    std::string cell, genotype, directory;  // the cell's directory (its replicates' parent, or itself)
    std::string population;
    double normal_width = 0, reduce_width = 0;
    int64_t normal_depth = 0, reduce_depth = 0, parameters = 0, epoch = 0;
    int64_t n = 0;                       // finished replicates
    int64_t censored = 0;                // of which never reached the loss threshold
    std::vector<MeanInterval> metrics;   // in study_metrics() order
};

// How a study's tables decide ([statistics] in a study config).
struct StudyStatistics {
    double alpha = 0.05;             // a verdict needs its Holm-adjusted p below this
    double power = 0.8;              // the power min_detectable_rho is computed for
    double equivalence_bound = 0.2;  // |rho| an "equivalent" verdict rules out
    int64_t bootstrap_samples = 2000, permutations = 5000;
    int64_t power_simulations = 1000;  // simulated studies per power (power.hpp)
    uint64_t seed = 0;                 // every resample and simulation

    // SettingError naming the field for a value no study can use.
    void validate() const;
};

struct StudyAssociationRow {
    int64_t epoch = 0;
    std::string population;
    std::string metric, predictor, controlling;  // controlling: "" or the predictor held fixed
    Association association;
    // The Holm family the row belongs to (holm_family()): the trained
    // metrics, or an optional analysis's metrics among themselves.
    std::string family;
    // "" or the predictor of the plain row whose test this row repeats:
    // where the cells' width and depth ranks coincide (or are reversed),
    // the depth row is the width row's test again (rho of the other sign:
    // "normal_width"); a partial row whose control is constant over its
    // cells is its plain row (its own predictor). It is not counted in the
    // family a second time and takes that row's p_value and p_holm.
    std::string duplicate_of;
    // Holm-adjusted p within the family (every population, epoch, metric,
    // predictor, plain and partial; duplicates counted once): the p the
    // verdict uses.
    double p_holm = NAN;
    int64_t family_size = 0;  // m: the family's distinct tests with a p-value
    // The metric's noise ratio (within / between cell variance, the seeds'
    // shared effects removed; power.hpp) and its 95% interval.
    double noise_ratio = NAN, noise_ratio_low = NAN, noise_ratio_high = NAN;
    // The smallest |rho| (of the cells' noise-free means) this row's design
    // detects with StudyStatistics::power at power_alpha = alpha / m, Holm's
    // first step (a row decided at all clears at least that), by simulation
    // with the metric's noise ratio (power.hpp); NaN with power_note saying why.
    double min_detectable_rho = NAN;
    double power_alpha = NAN;
    std::string power_note;
    // Equivalence on the same footing: equivalence_bound is a |rho| of the
    // noise-free means (as min_detectable_rho), observed_bound the rank
    // correlation of the seed-averaged means such a rho gives at the upper
    // end of the noise ratio's interval (power.hpp, attenuated_rho); the
    // interval must lie inside +-observed_bound.
    double equivalence_bound = NAN, observed_bound = NAN;
    std::string equivalence;  // equivalence_test(): "equivalent", "not equivalent", "no interval", ...
    int expected_sign = 0;    // what the paper implies for rho; 0: no claim
    std::string verdict;      // association_verdict()
};

// One metric against another across the cells of a population (Spearman's
// rho of the cells' means, paired bootstrap, permutation p, Holm-adjusted
// over this table's family).
struct StudyMetricAssociationRow {
    int64_t epoch = 0;
    std::string population, metric, other;
    Association association;
    std::string family;
    double p_holm = NAN;
};

// How much of the association of width with convergence speed
// (epochs_to_threshold) a metric accounts for (mediation.hpp), its joint
// significance test Holm-adjusted over the mediation table's family.
struct StudyMediationRow {
    int64_t epoch = 0;
    std::string population, predictor, outcome, mediator;
    Mediation mediation;
    std::string family;
    double p_holm = NAN;
    std::string notes;    // mediation_notes()
    std::string verdict;  // mediation_verdict()
};

// Per-cell means and intervals over the replicates whose status is "ok",
// in the order cells first appear in `rows`, one row per analysis epoch.
std::vector<StudyCellRow> summarize_cells(const std::vector<StudyRow>& rows);

// For every epoch, population (whose cells differ in the predictor), metric
// and predictor in {normal_width, normal_depth}: the association over the
// population's cells (each cell's replicates of that epoch), and the same
// with the other predictor held fixed (a partial rank correlation), which
// separates the two where they are collinear; then Holm over the table, the
// minimum detectable rho, equivalence and the verdicts.
std::vector<StudyAssociationRow> associate_with_predictors(const std::vector<StudyRow>& rows,
                                                           const StudyStatistics& statistics);

// Every pair of metrics, per epoch and population (at least 5 cells).
std::vector<StudyMetricAssociationRow> associate_metric_pairs(const std::vector<StudyRow>& rows,
                                                              const StudyStatistics& statistics);

// Width -> epochs_to_threshold through each landscape and gradient-noise
// metric, per epoch and population (at least 4 cells of several widths).
std::vector<StudyMediationRow> mediate_convergence(const std::vector<StudyRow>& rows,
                                                   const StudyStatistics& statistics);

// The verdict of a row with a claimed direction (expected_sign +1 or -1):
//   "holds"       p_holm < alpha and the interval excludes 0 on the claimed side;
//   "reversed"    p_holm < alpha and it excludes 0 on the other side;
//   "equivalent"  otherwise, when the row's equivalence test says so
//                 ("equivalent": no noise-free effect of the bound or more);
//   "undecided"   anything else: the study cannot tell.
// Rows without a claim (expected_sign 0) get "no claim"; their equivalence
// column still says whether an effect is ruled out.
std::string association_verdict(const Association& association, double p_holm, int expected_sign,
                                const std::string& equivalence, const StudyStatistics& statistics);

// The equivalence test of an association row on the noise-free scale:
// "equivalent" when the 95% interval lies strictly inside
// +-observed_bound, "not equivalent" when it does not, "no interval"
// without one; and when the seeds' noise leaves no bound, "seeds too
// noisy" (observed_bound 0: the noise ratio's interval reaches infinity,
// so the cells may not differ at all beyond their seeds and any effect
// could hide in the noise) or "noise unknown" (NaN: one seed per cell).
std::string equivalence_test(const Association& association, double observed_bound);

// The verdict of a mediation row:
//   "too few cells"  fewer cells than minimum_mediation_cells: no test;
//   "carries"        p_holm < alpha and the interval of a b excludes 0 on
//                    the total's side: the metric accounts for part of the
//                    association (not a proven cause: docs/science.md);
//   "opposes"        p_holm < alpha and it excludes 0 on the other side;
//   "undecided"      anything else.
std::string mediation_verdict(const Mediation& mediation, double p_holm, const StudyStatistics& statistics);

// The Holm family of a metric's rows: "trained" for the metrics every
// study measures, else the optional analysis's family ("proxies").
std::string holm_family(const std::string& metric);

// A table as named columns of equal length, the form summary.h5 and
// the study command's JSON output take.
using StudyTable = ColumnTable;

// One part of one replicate's network at one analysis epoch, with
// [analysis.hessian] or [analysis.gradient_variance] by_part: what the
// parts tables of its Hessian and gradient variance files hold, joined by
// the part's name (NaN where a file or a column is absent).
struct StudyPartRow {
    std::string cell, directory, population, part;
    int64_t seed = 0, epoch = 0;
    int64_t parameters = -1;  // from the Hessian file's table; -1 without it
    double top_eigenvalue = NAN, trace = NAN, trace_stderr = NAN;  // the Hessian's diagonal block
    double gradient_variance = NAN, gradient_norm = NAN;           // the gradient variance's share
};
StudyTable replicates_table(const std::vector<StudyRow>& rows);
StudyTable cells_table(const std::vector<StudyCellRow>& cells);
StudyTable associations_table(const std::vector<StudyAssociationRow>& associations);
StudyTable metric_associations_table(const std::vector<StudyMetricAssociationRow>& associations);
StudyTable mediation_table(const std::vector<StudyMediationRow>& mediation);
StudyTable parts_table(const std::vector<StudyPartRow>& parts);

// For people: the cells' means with their intervals (sorted by width), the
// verdicts against the cells' width (per population), each metric against
// convergence speed, and the mediation estimates.
std::string format_cells_table(std::vector<StudyCellRow> cells);
std::string format_verdict_table(const std::vector<StudyAssociationRow>& associations,
                                 const StudyStatistics& statistics);
std::string format_convergence_associations(const std::vector<StudyMetricAssociationRow>& associations);
std::string format_mediation_table(const std::vector<StudyMediationRow>& mediation);
// Every replicate's row (sorted by width), as measured.
std::string format_replicates_table(std::vector<StudyRow> rows);

}  // namespace cellscape
