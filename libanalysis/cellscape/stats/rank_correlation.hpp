#pragma once
// Rank statistics of a table of units (cells of a benchmark) with one value
// each: Kendall's tau-b, Spearman's rho with several controls held fixed,
// and the top-fraction overlap that NAS ranking papers report. Torch-free;
// every random draw is seeded (util/random.hpp).
#include <cstdint>
#include <vector>

#include "cellscape/stats/statistics.hpp"

namespace cellscape {

// Kendall's tau-b (scipy.stats.kendalltau's default): (concordant -
// discordant) / sqrt((n0 - ties in x)(n0 - ties in y)), n0 = n(n-1)/2 pairs.
// NaN with fewer than 2 pairs or when either side is constant. O(n^2).
double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y);

// Spearman's rho of x and y with every control held fixed: Pearson's
// correlation of what is left of x's ranks and y's ranks after each is
// fitted by least squares on an intercept and the controls' ranks, by
// column-pivoting QR (a control that repeats a combination of the others,
// as a cell's operation counts sum to its edges, adds nothing instead of
// making the fit singular). With one control
// this is partial_spearman's formula exactly. NaN with fewer than 3 pairs,
// or when the controls explain x or y completely (what is left is below
// 1e-9 of the ranks' own spread: rounding, not a residual).
double partial_spearman(const std::vector<double>& x, const std::vector<double>& y,
                        const std::vector<std::vector<double>>& controls);

// Of the `fraction` (0 < fraction <= 1) of units with the highest y, the
// share that also lie in the `fraction` with the highest x: k = max(1,
// round(fraction n)) places at each end. Units tied at a cut count as the
// share of the tied places the cut leaves (3 tied units for 1 place: 1/3
// each), which is the overlap's expectation over random tie-breaking.
// Chance level is k / n, about `fraction`.
double top_overlap(const std::vector<double>& x, const std::vector<double>& y, double fraction);

// associate()'s Spearman association for units with one value each
// (`metric[i]` against `value[i]`): the same rho, 95% percentile bootstrap
// interval and permutation p-value from the same draws of the same seed,
// so the same numbers, with each resample's ranks counted from the units'
// sorted levels in O(n) instead of sorted again (tested against
// associate in tests/study/test_rank_correlation.cpp).
Association rank_association(const std::vector<double>& metric, const std::vector<double>& value,
                             const AssociationOptions& options);

// partial_spearman with its 95% percentile bootstrap interval (units
// resampled with replacement, ranks and fits recomputed on each resample)
// and a two-sided permutation test: y's residual permuted against x's (the
// residuals are exchangeable under the null of no partial association once
// the controls are fitted, Freedman and Lane 1983; exact in the limit of a
// well-estimated fit, which a table of hundreds of units gives).
struct PartialAssociation {
    double rho = 0, low = 0, high = 0, p_value = 0;
    int64_t permutations = 0;
    bool exact = false;
};
PartialAssociation partial_associate(const std::vector<double>& x, const std::vector<double>& y,
                                     const std::vector<std::vector<double>>& controls,
                                     const AssociationOptions& options);

}  // namespace cellscape
