#pragma once
// How sure to be about a study's numbers: intervals for a cell's mean over
// its replicates (seeds), and rank associations between a metric and a
// cell's width or depth across cells, with bootstrap intervals and
// permutation tests. Torch-free; every random draw is seeded (util/random.hpp),
// so the same study gives the same intervals on every machine.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cellscape/stats/bootstrap.hpp"  // sorted_percentile
#include "cellscape/util/random.hpp"

namespace cellscape {

// The mean of the finite values, their sample standard deviation, and the
// two-sided Student-t interval for the mean at `level`; n counts the finite
// values (NaN bounds when n < 2, NaN everything when n = 0).
struct MeanInterval {
    int64_t n = 0;
    double mean = 0, std = 0, low = 0, high = 0;
};
MeanInterval mean_interval(const std::vector<double>& values, double level = 0.95);

// The mean of the finite values (a cell's replicates, NaN for a failed
// one); NaN when none is finite. mean_interval's mean, without the interval.
double finite_mean(const std::vector<double>& values);

// The p-quantile of Student's t distribution with `dof` degrees of freedom
// (0 < p < 1, dof > 0).
double student_t_quantile(double p, double dof);

// P(F <= x) and the p-quantile of Fisher's F distribution with (d1, d2)
// degrees of freedom (0 < p < 1, d1, d2 > 0): for the confidence interval
// of a variance ratio (power.hpp, variance_components).
double f_cdf(double x, double d1, double d2);
double f_quantile(double p, double d1, double d2);

// Pearson's correlation; NaN when either side is constant.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

// The partial correlation of x and y with z held fixed, from the three
// correlations: (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2)). NaN
// when z explains x or y completely (or r_xy is NaN); r_xy when z is
// constant (r_xz or r_yz NaN: a constant control explains nothing).
double partial_correlation(double r_xy, double r_xz, double r_yz);

// Ranks 1..n, ties sharing their average rank.
std::vector<double> average_ranks(const std::vector<double>& values);

// Spearman's rank correlation (Pearson's on average ranks); NaN when either
// side is constant or there are fewer than 3 pairs.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

// The rank correlation of x and y with z held fixed (the partial correlation
// of the ranks): what is left of x ~ y that z does not explain. NaN when z
// explains x or y completely.
double partial_spearman(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& z);

// Gehan's scores of right-censored times (Gehan 1965): for each run, the
// number of runs it certainly took longer than, less the number certainly
// longer than it. Run j certainly took less time than run i when j was
// observed (censored[j] false) and times[j] < times[i], or times[j] <=
// times[i] for a censored i (an event at t comes before a censoring at t);
// a censored run's time is where observation ended, or any value above
// every observed time it could not yet have reached (a study's horizon
// plus one step). Two censored runs are not ordered. Only the order of the times enters, so
// moving a censored run's placeholder moves no score.
std::vector<double> gehan_scores(const std::vector<double>& times, const std::vector<bool>& censored);

// A metric's association with a predictor across cells.
struct Association {
    std::string metric, predictor;
    std::string controlling;  // empty, or the predictor held fixed (a partial association)
    double rho = 0;           // Spearman's rho of the per-cell means against the predictor
    double low = 0, high = 0; // 95% percentile bootstrap interval: cells resampled with replacement, each with its mean
    double p_value = 0;       // two-sided permutation test of rho = 0 (predictor permuted across cells)
    int64_t cells = 0;        // cells with at least one finite replicate
    // The permutations p_value counts: every ordering of the cells when
    // their number allows (exact: p = share of the n! orderings whose |rho|
    // reaches the observed, the identity included), else sampled ones
    // (p = (1 + as extreme) / (permutations + 1)); 0 without a p-value.
    int64_t permutations = 0;
    bool exact = false;
    // Every bootstrap resample gave the same rho (e.g. a handful of cells
    // whose means keep the predictor's order): the interval is a point and
    // says nothing about the uncertainty.
    bool degenerate_interval = false;
};

// Orderings of up to this many (8! = 40320) are all enumerated by the
// permutation tests; more are sampled.
inline constexpr int64_t exact_permutation_limit = 40320;

struct AssociationOptions {
    int64_t bootstrap_samples = 2000;
    // Sampled permutations when the orderings are too many to enumerate
    // (more than max(exact_permutation_limit, permutations)).
    int64_t permutations = 5000;
    uint64_t seed = 0;
};

// The rank statistic of the association alone, without interval or test:
// rho (or the partial rho with `control`) of the cells' means, and the cells
// counted, as associate() would report them.
Association association_estimate(const std::vector<std::vector<double>>& replicates,
                                 const std::vector<double>& predictor, const std::vector<double>& control);

// A two-sided permutation test of a statistic of n exchangeable units:
// `statistic(order)` is the statistic with the units in `order` (a
// permutation of 0..n-1; the identity gives the observed value). All n!
// orderings when n! <= max(exact_permutation_limit, permutations),
// otherwise `permutations` uniformly drawn ones from `random`. An
// ordering with a NaN statistic is left out of the count altogether: exact
// p = extreme / defined orderings, sampled p = (1 + extreme) / (1 +
// defined draws).
struct PermutationTest {
    double p_value = NAN;
    int64_t permutations = 0;
    bool exact = false;
};
PermutationTest permutation_test(std::size_t n, double observed, int64_t permutations, SeededRandom& random,
                                 const std::function<double(const std::vector<std::size_t>&)>& statistic);

// `replicates[c]` are cell c's values of the metric (NaN for a failed
// replicate), `predictor[c]` its width or depth, and `control[c]` (when not
// empty) the other one, held fixed.
Association associate(const std::vector<std::vector<double>>& replicates, const std::vector<double>& predictor,
                      const std::vector<double>& control, const AssociationOptions& options);

// The association between two metrics measured on the same replicates:
// `metric[c][k]` and `other[c][k]` are cell c's seed k (a replicate with a
// NaN in either is left out). Spearman's rho of the cells' means, the same
// bootstrap over cells and permutation test (the other metric's means
// permuted across cells).
Association associate_paired(const std::vector<std::vector<double>>& metric,
                              const std::vector<std::vector<double>>& other, const AssociationOptions& options);

// associate_paired's rho and cells alone, without interval or test.
Association paired_association_estimate(const std::vector<std::vector<double>>& metric,
                                        const std::vector<std::vector<double>>& other);

// Holm's step-down adjustment of one family of p-values: sorted ascending,
// p_(i) becomes max over j <= i of min(1, (m - j + 1) p_(j)), m the number
// of finite p-values; a NaN p-value is not in the family and stays NaN.
// Rejecting where the adjusted p < alpha keeps the chance of any false
// rejection in the family at most alpha, whatever the tests' dependence.
std::vector<double> holm_adjusted(const std::vector<double>& p_values);

// Whether an interval rules out every effect of size `bound` or more: the
// 95% interval lies strictly inside (-bound, bound) ("equivalent"), reaches
// beyond it ("not equivalent"), or is missing ("no interval"). With a 95%
// interval this is two one-sided tests at 2.5% each, stricter than the
// usual 90% interval's 5%.
std::string equivalence_outcome(double low, double high, double bound);

}  // namespace cellscape
