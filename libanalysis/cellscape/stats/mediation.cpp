#include "cellscape/stats/mediation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "cellscape/stats/bootstrap.hpp"
#include "cellscape/util/random.hpp"

namespace cellscape {
namespace {

struct Paths {
    double total = NAN, a = NAN, b = NAN, direct = NAN;
};

// The rank regression's coefficients from the cells' means.
Paths paths(const std::vector<double>& x, const std::vector<double>& m, const std::vector<double>& y) {
    const std::vector<double> rx = average_ranks(x), rm = average_ranks(m), ry = average_ranks(y);
    const double xm = pearson(rx, rm), xy = pearson(rx, ry), my = pearson(rm, ry);
    Paths result;
    result.total = xy;
    result.a = xm;
    const double unexplained = 1.0 - xm * xm;
    if (!std::isfinite(xm) || !std::isfinite(xy) || !std::isfinite(my) || unexplained < 1e-12) return result;
    result.b = (my - xy * xm) / unexplained;
    result.direct = (xy - my * xm) / unexplained;
    return result;
}

double mean_of(const std::vector<double>& values) {
    return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

// The residual of v regressed (with intercept) on x.
std::vector<double> residual(const std::vector<double>& v, const std::vector<double>& x) {
    const double mean_v = mean_of(v), mean_x = mean_of(x);
    double sxv = 0, sxx = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        sxv += (x[i] - mean_x) * (v[i] - mean_v);
        sxx += (x[i] - mean_x) * (x[i] - mean_x);
    }
    const double slope = sxx > 0 ? sxv / sxx : 0.0;
    std::vector<double> result(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) result[i] = v[i] - mean_v - slope * (x[i] - mean_x);
    return result;
}

// The two paths' permutation tests (Mediation's p_a, p_b).
void test_paths(const std::vector<double>& x, const std::vector<double>& m, const std::vector<double>& y,
                const AssociationOptions& options, SeededRandom& random, Mediation& result) {
    const std::vector<double> rx = average_ranks(x), rm = average_ranks(m), ry = average_ranks(y);
    const std::size_t n = rx.size();
    std::vector<double> shuffled(n);
    const PermutationTest a = permutation_test(n, pearson(rx, rm), options.permutations, random,
                                               [&](const std::vector<std::size_t>& order) {
                                                   for (std::size_t i = 0; i < n; ++i) shuffled[i] = rx[order[i]];
                                                   return pearson(shuffled, rm);
                                               });
    // b = 0 if and only if the partial correlation of M and Y given X is 0:
    // corr(e_M, e_Y), e the residuals on X's ranks. Freedman and Lane:
    // under the null Y = fitted(X) + e_Y with exchangeable e_Y; permuting
    // e_Y and taking the residual on X again gives the null's partial
    // correlation (the fitted part drops out of that residual).
    const std::vector<double> em = residual(rm, rx), ey = residual(ry, rx);
    const PermutationTest b = permutation_test(n, pearson(em, ey), options.permutations, random,
                                               [&](const std::vector<std::size_t>& order) {
                                                   for (std::size_t i = 0; i < n; ++i) shuffled[i] = ey[order[i]];
                                                   return pearson(em, residual(shuffled, rx));
                                               });
    result.p_a = a.p_value;
    result.p_b = b.p_value;
    result.p_value = std::isfinite(a.p_value) && std::isfinite(b.p_value) ? std::max(a.p_value, b.p_value) : NAN;
    result.permutations = std::max(a.permutations, b.permutations);
}

// The cluster bootstrap (stats/bootstrap.hpp): cells resampled with their
// means, which already carry the seeds' noise; resampling the seeds again
// would pull both a and b, and so a b, toward 0.
void bootstrap_paths(const std::vector<double>& x, const std::vector<double>& m, const std::vector<double>& y,
                     const AssociationOptions& options, SeededRandom& random, Mediation& result) {
    std::vector<double> indirect, total, proportion;
    std::vector<double> bx(x.size()), bm(x.size()), by(x.size());
    cluster_bootstrap(x.size(), options.bootstrap_samples, random, [&](const std::vector<std::size_t>& sample) {
        for (std::size_t i = 0; i < sample.size(); ++i) bx[i] = x[sample[i]], bm[i] = m[sample[i]], by[i] = y[sample[i]];
        const Paths resampled = paths(bx, bm, by);
        const double value = resampled.a * resampled.b;
        if (std::isfinite(resampled.total)) total.push_back(resampled.total);
        if (!std::isfinite(value)) return;
        indirect.push_back(value);
        if (std::isfinite(resampled.total) && std::abs(resampled.total) > 1e-12)
            proportion.push_back(value / resampled.total);
    });
    result.dropped = options.bootstrap_samples > 0
                         ? 1.0 - static_cast<double>(indirect.size()) / static_cast<double>(options.bootstrap_samples)
                         : NAN;
    const PercentileInterval effect = percentile_interval(std::move(indirect), options.bootstrap_samples);
    const PercentileInterval whole = percentile_interval(std::move(total), options.bootstrap_samples);
    result.low = effect.low, result.high = effect.high;
    result.total_low = whole.low, result.total_high = whole.high;
    if (result.total_low > 0 || result.total_high < 0) {
        const PercentileInterval share = percentile_interval(std::move(proportion), options.bootstrap_samples);
        result.proportion_low = share.low, result.proportion_high = share.high;
    }
}

}  // namespace

Mediation mediate(const std::vector<MediationCell>& input, const AssociationOptions& options, int64_t minimum_cells) {
    // The complete replicates of each cell with at least one.
    std::vector<double> x, m, y;
    for (const MediationCell& cell : input) {
        std::vector<double> kept_m, kept_y;
        for (std::size_t k = 0; k < std::min(cell.mediator.size(), cell.outcome.size()); ++k)
            if (std::isfinite(cell.mediator[k]) && std::isfinite(cell.outcome[k])) {
                kept_m.push_back(cell.mediator[k]);
                kept_y.push_back(cell.outcome[k]);
            }
        if (kept_m.empty()) continue;
        x.push_back(cell.predictor);
        m.push_back(mean_of(kept_m));
        y.push_back(mean_of(kept_y));
    }
    Mediation result;
    result.cells = static_cast<int64_t>(x.size());
    if (x.size() < 4) return result;
    const Paths estimate = paths(x, m, y);
    result.total = estimate.total;
    result.a = estimate.a;
    result.b = estimate.b;
    result.direct = estimate.direct;
    result.indirect = estimate.a * estimate.b;
    if (std::isfinite(result.indirect) && std::isfinite(result.total) && std::abs(result.total) > 1e-12)
        result.proportion = result.indirect / result.total;
    result.minimum_cells = minimum_cells;
    result.too_few_cells = result.cells < minimum_cells;
    if (result.too_few_cells || !std::isfinite(result.indirect)) return result;
    SeededRandom random(options.seed);
    bootstrap_paths(x, m, y, options, random, result);
    test_paths(x, m, y, options, random, result);
    return result;
}

std::string mediation_notes(const Mediation& mediation) {
    std::vector<std::string> notes;
    if (mediation.too_few_cells)
        notes.push_back(fmt::format("too few cells ({} < {}): no interval or test", mediation.cells,
                                    mediation.minimum_cells));
    if (mediation.low < -1 || mediation.high > 1) notes.emplace_back("interval beyond +-1");
    if (mediation.dropped > 0.05)
        notes.push_back(fmt::format("{:.0f}% of resamples dropped (a b undefined)", 100 * mediation.dropped));
    if (std::abs(mediation.a) > 0.9)
        notes.push_back(fmt::format("|a| = {:.2f} > 0.9: the mediator is nearly the predictor's ranks", std::abs(mediation.a)));
    return fmt::format("{}", fmt::join(notes, "; "));
}

}  // namespace cellscape
