#include "cellscape/study/mediation.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

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

}  // namespace

Mediation mediate(const std::vector<MediationCell>& input, const AssociationOptions& options) {
    // The complete replicates of each cell with at least one.
    struct Cell {
        double x;
        std::vector<double> m, y;
    };
    std::vector<Cell> cells;
    for (const MediationCell& cell : input) {
        Cell kept{cell.predictor, {}, {}};
        for (std::size_t k = 0; k < std::min(cell.mediator.size(), cell.outcome.size()); ++k)
            if (std::isfinite(cell.mediator[k]) && std::isfinite(cell.outcome[k])) {
                kept.m.push_back(cell.mediator[k]);
                kept.y.push_back(cell.outcome[k]);
            }
        if (!kept.m.empty()) cells.push_back(std::move(kept));
    }
    Mediation result;
    result.cells = static_cast<int64_t>(cells.size());
    if (cells.size() < 4) return result;
    std::vector<double> x, m, y;
    for (const Cell& cell : cells) {
        x.push_back(cell.x);
        m.push_back(mean_of(cell.m));
        y.push_back(mean_of(cell.y));
    }
    const Paths estimate = paths(x, m, y);
    result.total = estimate.total;
    result.a = estimate.a;
    result.b = estimate.b;
    result.direct = estimate.direct;
    result.indirect = estimate.a * estimate.b;
    if (std::isfinite(result.indirect) && std::isfinite(result.total) && std::abs(result.total) > 1e-12)
        result.proportion = result.indirect / result.total;

    // Cells resampled with their means: a cell's mean already carries its
    // seeds' noise. Resampling the seeds again would add that noise twice
    // and pull both a and b, and so a b, toward 0 (Davison and Hinkley 1997,
    // section 3.8, on two-stage resampling).
    SeededRandom random(options.seed);
    std::vector<double> indirect;
    for (int64_t draw = 0; draw < options.bootstrap_samples; ++draw) {
        std::vector<double> bx, bm, by;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            const auto c = static_cast<std::size_t>(random.below(cells.size()));
            bx.push_back(x[c]);
            bm.push_back(m[c]);
            by.push_back(y[c]);
        }
        const Paths resampled = paths(bx, bm, by);
        const double value = resampled.a * resampled.b;
        if (std::isfinite(value)) indirect.push_back(value);
    }
    std::sort(indirect.begin(), indirect.end());
    if (static_cast<int64_t>(indirect.size()) >= std::max<int64_t>(20, options.bootstrap_samples / 2)) {
        result.low = sorted_percentile(indirect, 0.025);
        result.high = sorted_percentile(indirect, 0.975);
    }
    return result;
}

}  // namespace cellscape
