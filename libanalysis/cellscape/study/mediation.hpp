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
#include <vector>

#include "cellscape/study/statistics.hpp"

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
    // than half the resamples give a defined value.
    double low = NAN, high = NAN;
    double proportion = NAN;  // a b / c; NaN when c is 0 or undefined
    int64_t cells = 0;        // cells with at least one complete replicate
};

// NaN estimates with fewer than 4 cells or when X explains M completely.
Mediation mediate(const std::vector<MediationCell>& cells, const AssociationOptions& options);

}  // namespace cellscape
