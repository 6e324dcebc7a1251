#pragma once
// How much a study can tell (docs/science.md section 7, "Power"): how a
// metric varies between cells and between the seeds of one cell, measured
// on a finished study (the pilot), and, by simulation through the study's
// own rank test, the power of a design (its cells' predictor values and
// seeds per cell) against a rank correlation, and the smallest correlation
// it detects with a given power. Torch-free; every draw is seeded, so a
// design gets the same answer on every machine.
//
// The simulated studies follow this model, stated once here:
//   s_i   the predictor's standardized ranks (mean 0, variance 1) over the
//         design's cells; with a control, the residual of the predictor's
//         ranks regressed on the control's ranks, standardized;
//   mu_i  = r s_i + sqrt(1 - r^2) u_i, u_i ~ N(0, 1): cell i's noise-free
//         mean, in units of the spread of the cells' means;
//   m_i   = mu_i + sqrt(noise_ratio / n_i) e_i, e_i ~ N(0, 1): the mean of
//         its n_i seeds, each off by within-cell noise (noise_ratio =
//         within / between variance, variance_components below; an effect
//         of a seed that every cell shares moves every mean alike and is
//         left out of the noise);
//   the test is the study's: Spearman's rho of m with the predictor (or the
//   partial one with the control), two-sided, against its permutation null
//   (the predictor permuted across cells), rejected when
//   p = (1 + #{null |rho| >= |rho|}) / (nulls + 1) < alpha.
// The effect a design is powered against, rho, is the expected rank
// correlation of the noise-free means mu with the predictor: what the study
// would report with infinitely many seeds per cell.
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace cellscape {

// One-way random-effects analysis of variance by the method of moments
// (unbalanced cells: n0 = (N - sum n_i^2 / N) / (cells - 1)):
// between = max(0, (MSB - MSW) / n0), within = MSW. `replicates[c]` holds
// cell c's finite values; NaN values are left out, cells without any too.
//
// The noise ratio's uncertainty: F = MSB / MSW is distributed as
// (1 + n0 theta) F(cells - 1, within degrees), theta = between / within
// (exact for balanced cells, an approximation otherwise), so the 95%
// interval of theta is [(F / F_0.975 - 1) / n0, (F / F_0.025 - 1) / n0]
// (each end at least 0) and that of the noise ratio 1 / theta its
// reciprocal, infinite where theta's end is 0: a pilot whose cells may
// not differ at all (Searle, Casella and McCulloch 1992, section 3.5).
struct VarianceComponents {
    int64_t cells = 0, replicates = 0;
    double between = NAN;  // variance of the cells' noise-free means
    double within = NAN;   // variance between the seeds of one cell
    double f_statistic = NAN;                           // MSB / MSW
    double between_degrees = NAN, within_degrees = NAN;  // of MSB and MSW
    double n0 = NAN;                                    // replicates per cell, unbalanced cells' effective count
    // within / between (infinite when between is 0, NaN when unknown).
    double noise_ratio() const;
    // The noise ratio's interval at `level` (two-sided); NaN ends when unknown.
    std::pair<double, double> noise_ratio_interval(double level = 0.95) const;
};
VarianceComponents variance_components(const std::vector<std::vector<double>>& replicates);

// The same with the effects of seeds shared by cells taken out first (what
// studies and plans use; `seeds[c][k]` is the seed of `replicates[c][k]`).
// A study trains every cell with the same seeds, and a seed fixes more than
// one run's noise (the data order, the initialization's stream): in the
// powered study seed 1 gave the cells' top eigenvalues a mean of 267, seed
// 2 one of 180. An effect common to every cell's mean cannot change their
// ranks, yet a one-way ANOVA counts it as noise within each cell (there it
// left no between-cell variance at all for a correlation the study
// detected, rho = +0.40). A seed's
// effect is the mean deviation of its replicates from their cells' means
// (seeds of at least 2 cells); the values less their seed's effect go
// through the one-way ANOVA, whose within-cell degrees of freedom lose
// (seeds - 1). For a complete cells x seeds table this is exactly the
// additive two-way ANOVA: within = its residual mean square, between =
// (MS_cells - within) / seeds; with missing replicates, one backfitting step.
VarianceComponents variance_components(const std::vector<std::vector<double>>& replicates,
                                       const std::vector<std::vector<int64_t>>& seeds);

// A rank test across cells as a study runs it.
struct RankTestDesign {
    std::vector<double> predictor;  // one value per cell (ties allowed)
    std::vector<double> control;    // empty, or one per cell, held fixed
    std::vector<int64_t> seeds;     // replicates per cell (each at least 1)
    double noise_ratio = 0;         // within / between variance of the metric
};

// The rank test's design of measured cells: `replicates[c]` cell c's values
// (NaN for a failed replicate); the cells with a finite value, with their
// predictor (and control, when not empty) and counts of finite values.
RankTestDesign measured_design(const std::vector<std::vector<double>>& replicates, double noise_ratio,
                               const std::vector<double>& predictor, const std::vector<double>& control);

struct PowerOptions {
    double alpha = 0.05;              // two-sided
    int64_t simulations = 2000;       // simulated studies per power
    // Simulated permutation nulls for the critical value: at least this
    // many and at least 20 / alpha (so a small alpha, e.g. Holm's first
    // step alpha / m, has 20 null values beyond its critical value).
    int64_t null_simulations = 4000;
    uint64_t seed = 0;
};

struct PowerEstimate {
    double rho = NAN;    // the effect: expected rank correlation of the noise-free means
    double power = NAN;  // the share of simulated studies whose test rejects
};

// The power against `rho` (its sign is irrelevant: the test is two-sided).
// NaN power when the design cannot reach |rho| (e.g. rho = 0.99 with many
// tied predictor values) or has fewer than 3 cells; SettingError for a
// design whose vectors disagree in length or whose noise ratio is negative.
PowerEstimate rank_test_power(const RankTestDesign& design, double rho, const PowerOptions& options);

// The two halves of rank_test_power, for planners that try many designs
// with one effect: the latent r of the model above whose noise-free means
// have expected rank correlation |rho| with the design's predictor (NaN
// beyond what the design allows), and the power at that r.
double latent_correlation(const RankTestDesign& design, double rho, const PowerOptions& options);
double power_at_latent(const RankTestDesign& design, double latent, const PowerOptions& options);

// The smallest |rho| the design detects with at least `power` (0 < power <
// 1); NaN when even the strongest correlation the design allows is not
// detected that often (too few cells, or seeds far noisier than cells).
double minimum_detectable_rho(const RankTestDesign& design, double power, const PowerOptions& options);

// The expected rank correlation a study observes between its cells'
// seed-averaged means m and the predictor (with the control held fixed,
// if any) when that of the noise-free means mu is `rho`: rho attenuated by
// the seeds' noise (the model above; same sign as rho). 0 when the noise
// ratio is infinite (the seeds could hide any effect); NaN for fewer than
// 3 cells, an unknown noise ratio or a |rho| the design cannot reach. For
// an equivalence test of the noise-free rho on the observed means' scale.
double attenuated_rho(const RankTestDesign& design, double rho, const PowerOptions& options);

// `cells` predictor values in the proportions of the pilot's: each distinct
// value of `pilot` gets its share of `cells` (largest remainders, ties to
// the smaller value), in increasing order. For designs larger or smaller
// than the pilot with the same stratification.
std::vector<double> scaled_predictor(const std::vector<double>& pilot, int64_t cells);

// A design of `cells` cells of `seeds` seeds each, the pilot's predictor
// values scaled to that many cells (scaled_predictor).
RankTestDesign scaled_design(const std::vector<double>& pilot_predictor, int64_t cells, int64_t seeds,
                             double noise_ratio);

// The fewest cells (4 ... max_cells) of `seeds` seeds each whose design,
// the pilot's predictor values scaled to that many cells, reaches `power`
// at the latent correlation: doubling, then bisection (power grows with
// the cells). 0 when max_cells does not reach it; `reached` gets the
// power of the returned design.
int64_t fewest_cells(const std::vector<double>& pilot_predictor, int64_t seeds, double noise_ratio, double latent,
                     double power, int64_t max_cells, const PowerOptions& options, double& reached);

}  // namespace cellscape
