#pragma once
// Whether a metric carries a predictor's association with an outcome across
// cells: the paper's "because" (width -> smoother landscape, less gradient
// noise -> faster convergence) as a mediation analysis on ranks
// (docs/science.md section 7, "Mediation"). Torch-free, seeded.
//
// On the ranks of the cells' means of predictor X, mediator M and outcome Y,
// with r the Pearson correlation of ranks (Spearman's rho):
//   a  = r_XM                                 X -> M
//   b  = (r_MY - r_XY r_XM) / (1 - r_XM^2)     M -> Y with X held fixed
//   c' = (r_XY - r_MY r_XM) / (1 - r_XM^2)     X -> Y with M held fixed
//   c  = r_XY = c' + a b                      the total association
// the standardized regression coefficients of the ranks, whose product a b
// is the indirect association (the product-of-coefficients estimator) and
// a b / c the share of the total it accounts for.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cellscape/stats/statistics.hpp"

namespace cellscape {

// One cell: its predictor value and, replicate by replicate, its mediator
// and outcome values (paired: entry k of both is seed k's). A replicate with
// a NaN in either is left out.
struct MediationCell {
    double predictor = 0;
    std::vector<double> mediator, outcome;
};

struct Mediation {
    double total = NAN;     // c
    double a = NAN, b = NAN;
    double direct = NAN;    // c'
    double indirect = NAN;  // a b
    // 95% percentile bootstrap interval of a b, cells resampled with their
    // means (see mediation.cpp for why not their seeds too); NaN when fewer
    // than half the resamples give a defined value, or with too few cells.
    double low = NAN, high = NAN;
    double total_low = NAN, total_high = NAN;  // the same bootstrap's interval of c
    double proportion = NAN;  // a b / c; NaN when c is 0 or undefined
    // The same bootstrap's percentile interval of a b / c; NaN when the
    // total's interval includes 0 (a ratio over a denominator that may be 0
    // has no useful interval).
    double proportion_low = NAN, proportion_high = NAN;
    // The joint significance test (MacKinnon et al. 2002): the indirect
    // association is declared when both of its paths are, so its p-value is
    // the larger of the two paths' permutation p-values. p_a: X's ranks
    // permuted across cells (as associate() tests rho). p_b: b's partial
    // correlation of M and Y with X held fixed, by Freedman and Lane's
    // (1983) permutation of Y's residuals from its regression on X.
    double p_a = NAN, p_b = NAN, p_value = NAN;
    int64_t permutations = 0;  // sampled (or enumerated) per path
    double dropped = NAN;      // share of the bootstrap resamples without a defined a b
    int64_t cells = 0;         // cells with at least one complete replicate
    int64_t minimum_cells = 0;   // the minimum it was computed with
    bool too_few_cells = false;  // fewer than the minimum: estimates only, no interval or test
};

// Below this many cells (a 2-seed design) the rank mediation's interval
// and test are not computed (the row says "too few cells"): at fewer,
// simulated studies of the study's design give intervals that reach
// beyond +-1, drop resamples and miss the target (docs/science.md,
// "Mediation"; the simulation is tests/study/test_mediation.cpp's
// "[.calibration]" case).
inline constexpr int64_t minimum_mediation_cells = 12;

// The rank mediation of the cells' means. NaN estimates with fewer than 4
// cells or when X explains M completely; with fewer than `minimum_cells`,
// the estimates without interval or test (too_few_cells).
Mediation mediate(const std::vector<MediationCell>& cells, const AssociationOptions& options,
                  int64_t minimum_cells = minimum_mediation_cells);

// What a mediation row's numbers cannot carry, in words ("" when nothing):
// too few cells, an interval beyond +-1 (b is a regression coefficient of
// ranks and can exceed 1 when X and M are collinear), more than 5% of the
// resamples dropped, |a| above 0.9 (M nearly a copy of X's ranks, so b is
// estimated from what little of M is not X).
std::string mediation_notes(const Mediation& mediation);

}  // namespace cellscape
