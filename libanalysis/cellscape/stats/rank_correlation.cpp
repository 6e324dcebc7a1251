#include "cellscape/stats/rank_correlation.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cellscape/stats/bootstrap.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/random.hpp"

namespace cellscape {

double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y) {
    if (x.size() != y.size()) throw Error("internal: kendall_tau_b of vectors of different lengths");
    const std::size_t n = x.size();
    if (n < 2) return NAN;
    // Pairs counted once: concordant minus discordant, and pairs not tied in x (in y).
    double score = 0, untied_x = 0, untied_y = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j) {
            const double dx = x[i] - x[j], dy = y[i] - y[j];
            if (dx != 0) untied_x += 1;
            if (dy != 0) untied_y += 1;
            if (dx != 0 && dy != 0) score += (dx > 0) == (dy > 0) ? 1 : -1;
        }
    return untied_x > 0 && untied_y > 0 ? score / std::sqrt(untied_x * untied_y) : NAN;
}

namespace {

// The residuals of each column of `values` after a least-squares fit on an
// intercept and the controls: one factorization for all of them.
Eigen::MatrixXd residuals_of(const Eigen::MatrixXd& values, const std::vector<std::vector<double>>& controls) {
    const Eigen::Index n = values.rows();
    Eigen::MatrixXd design(n, static_cast<Eigen::Index>(controls.size()) + 1);
    design.col(0).setOnes();
    for (std::size_t k = 0; k < controls.size(); ++k) {
        if (static_cast<Eigen::Index>(controls[k].size()) != n)
            throw Error("internal: a control of another length than the values");
        design.col(static_cast<Eigen::Index>(k) + 1) = Eigen::Map<const Eigen::VectorXd>(controls[k].data(), n);
    }
    // Rank-revealing: columns within 1e-10 of the span of earlier ones are dropped.
    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(design);
    qr.setThreshold(1e-10);
    return values - design * qr.solve(values);
}

// x's and y's rank residuals after the controls' ranks, or empty vectors
// when the controls explain either completely.
std::pair<std::vector<double>, std::vector<double>> rank_residuals(const std::vector<double>& x,
                                                                   const std::vector<double>& y,
                                                                   const std::vector<std::vector<double>>& controls) {
    std::vector<std::vector<double>> control_ranks;
    for (const auto& control : controls) control_ranks.push_back(average_ranks(control));
    const std::vector<double> rx = average_ranks(x), ry = average_ranks(y);
    const auto n = static_cast<Eigen::Index>(x.size());
    Eigen::MatrixXd ranks(n, 2);
    ranks.col(0) = Eigen::Map<const Eigen::VectorXd>(rx.data(), n);
    ranks.col(1) = Eigen::Map<const Eigen::VectorXd>(ry.data(), n);
    const Eigen::MatrixXd residual = residuals_of(ranks, control_ranks);
    std::vector<double> ex(residual.col(0).data(), residual.col(0).data() + n);
    std::vector<double> ey(residual.col(1).data(), residual.col(1).data() + n);
    auto spread = [](const std::vector<double>& v) {
        const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
        double sum = 0;
        for (double value : v) sum += (value - mean) * (value - mean);
        return sum;
    };
    const double scale_x = spread(rx), scale_y = spread(ry);
    if (!(spread(ex) > 1e-9 * scale_x) || !(spread(ey) > 1e-9 * scale_y)) return {};
    return {std::move(ex), std::move(ey)};
}

}  // namespace

double partial_spearman(const std::vector<double>& x, const std::vector<double>& y,
                        const std::vector<std::vector<double>>& controls) {
    if (x.size() != y.size()) throw Error("internal: partial_spearman of vectors of different lengths");
    if (x.size() < 3) return NAN;
    const auto [ex, ey] = rank_residuals(x, y, controls);
    return ex.empty() ? NAN : pearson(ex, ey);
}

namespace {

// Each unit's membership in the k highest of `values`: 1 above the cut, the
// share of the remaining places for the units tied at it, 0 below.
std::vector<double> top_membership(const std::vector<double>& values, std::size_t k) {
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    const double cut = sorted[k - 1];
    const auto above = static_cast<double>(std::count_if(values.begin(), values.end(), [&](double v) { return v > cut; }));
    const auto tied = static_cast<double>(std::count(values.begin(), values.end(), cut));
    std::vector<double> membership(values.size(), 0.0);
    for (std::size_t i = 0; i < values.size(); ++i)
        membership[i] = values[i] > cut ? 1.0 : values[i] == cut ? (static_cast<double>(k) - above) / tied : 0.0;
    return membership;
}

}  // namespace

double top_overlap(const std::vector<double>& x, const std::vector<double>& y, double fraction) {
    if (x.size() != y.size()) throw Error("internal: top_overlap of vectors of different lengths");
    if (!(fraction > 0 && fraction <= 1)) throw Error("internal: top_overlap needs a fraction in (0, 1]");
    if (x.empty()) return NAN;
    const auto k = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(fraction * static_cast<double>(x.size()))));
    const std::vector<double> in_x = top_membership(x, k), in_y = top_membership(y, k);
    double overlap = 0;
    for (std::size_t i = 0; i < x.size(); ++i) overlap += in_x[i] * in_y[i];
    return overlap / static_cast<double>(k);
}

namespace {

// A column's distinct values in ascending order, as each unit's level: a
// resample's average ranks follow from how often it draws each level.
struct Levels {
    std::vector<std::size_t> of_unit;
    std::size_t count = 0;
};

Levels levels_of(const std::vector<double>& values) {
    std::vector<double> distinct = values;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    Levels levels;
    levels.count = distinct.size();
    for (double value : values)
        levels.of_unit.push_back(static_cast<std::size_t>(std::lower_bound(distinct.begin(), distinct.end(), value) -
                                                          distinct.begin()));
    return levels;
}

// average_ranks of the resample that draws units `sample`: a level drawn f
// times after b draws of lower levels holds ranks b+1 .. b+f, average b + (f+1)/2.
void sample_ranks(const Levels& levels, const std::vector<std::size_t>& sample, std::vector<double>& frequency,
                  std::vector<double>& ranks) {
    frequency.assign(levels.count, 0.0);
    for (std::size_t unit : sample) frequency[levels.of_unit[unit]] += 1;
    double below = 0;
    for (double& f : frequency) {
        const double drawn = f;
        f = below + 0.5 * (drawn + 1);
        below += drawn;
    }
    ranks.resize(sample.size());
    for (std::size_t i = 0; i < sample.size(); ++i) ranks[i] = frequency[levels.of_unit[sample[i]]];
}

}  // namespace

namespace {

// partial_spearman from the ranks themselves (columns x, y, then the
// controls), by the normal equations: with every column centred (the
// intercept) and G the controls' Gram matrix, what is left of x and y after
// the fit has inner products s_ab - g_a' G^+ g_b, G^+ the pseudo-inverse
// (eigenvalues below 1e-10 of the largest dropped, as the QR's threshold).
// The same number as the QR route to rounding (1e-12 measured), at a
// quarter of its cost: the bootstrap's route.
double partial_from_gram(Eigen::MatrixXd& ranks) {
    ranks.rowwise() -= ranks.colwise().mean();
    const Eigen::Index k = ranks.cols() - 2;
    const Eigen::MatrixXd gram = ranks.transpose() * ranks;
    Eigen::Matrix2d left = gram.topLeftCorner(2, 2);
    if (k > 0) {
        const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(gram.bottomRightCorner(k, k));
        const Eigen::VectorXd& values = eigen.eigenvalues();
        const double cut = 1e-10 * std::max(values.maxCoeff(), 0.0);
        const Eigen::MatrixXd projected = eigen.eigenvectors().transpose() * gram.bottomLeftCorner(k, 2);
        for (Eigen::Index j = 0; j < k; ++j)
            if (values[j] > cut) left -= projected.row(j).transpose() * projected.row(j) / values[j];
    }
    if (!(left(0, 0) > 1e-9 * gram(0, 0)) || !(left(1, 1) > 1e-9 * gram(1, 1))) return NAN;
    return left(0, 1) / std::sqrt(left(0, 0) * left(1, 1));
}

// The permutation test of Pearson's correlation of a and b, b shuffled.
PermutationTest shuffled_correlation_test(const std::vector<double>& a, const std::vector<double>& b, double observed,
                                          const AssociationOptions& options, SeededRandom& random) {
    std::vector<double> shuffled(b.size());
    return permutation_test(b.size(), observed, options.permutations, random,
                            [&](const std::vector<std::size_t>& order) {
                                for (std::size_t i = 0; i < order.size(); ++i) shuffled[i] = b[order[i]];
                                return pearson(a, shuffled);
                            });
}

}  // namespace

Association rank_association(const std::vector<double>& metric, const std::vector<double>& value,
                             const AssociationOptions& options) {
    if (metric.size() != value.size()) throw Error("internal: rank_association of vectors of different lengths");
    const std::size_t n = metric.size();
    Association result;
    result.cells = static_cast<int64_t>(n);
    // spearman() is Pearson's on these ranks; the permutation test below reuses them.
    const std::vector<double> ranks_metric = average_ranks(metric), ranks_value = average_ranks(value);
    result.rho = n >= 3 ? pearson(ranks_metric, ranks_value) : NAN;
    if (!std::isfinite(result.rho)) {
        result.low = result.high = result.p_value = NAN;
        return result;
    }
    // associate()'s draws, in its order: per resample n units, then the permutations.
    SeededRandom random(options.seed);
    const Levels metric_levels = levels_of(metric), value_levels = levels_of(value);
    std::vector<double> rhos, frequency, metric_ranks, value_ranks;
    cluster_bootstrap(n, options.bootstrap_samples, random, [&](const std::vector<std::size_t>& sample) {
        sample_ranks(metric_levels, sample, frequency, metric_ranks);
        sample_ranks(value_levels, sample, frequency, value_ranks);
        const double rho = pearson(metric_ranks, value_ranks);
        if (std::isfinite(rho)) rhos.push_back(rho);
    });
    const PercentileInterval interval = percentile_interval(std::move(rhos), options.bootstrap_samples);
    result.low = interval.low;
    result.high = interval.high;
    result.degenerate_interval = interval.degenerate;
    // The permutation test: the value's ranks shuffled (the ranks of a shuffle are the shuffled ranks).
    const PermutationTest test = shuffled_correlation_test(ranks_metric, ranks_value, result.rho, options, random);
    result.p_value = test.p_value;
    result.permutations = test.permutations;
    result.exact = test.exact;
    return result;
}

PartialAssociation partial_associate(const std::vector<double>& x, const std::vector<double>& y,
                                     const std::vector<std::vector<double>>& controls,
                                     const AssociationOptions& options) {
    if (x.size() != y.size()) throw Error("internal: partial_associate of vectors of different lengths");
    PartialAssociation result;
    result.low = result.high = result.p_value = NAN;
    // partial_spearman's residuals, kept for the permutation test.
    const auto [ex, ey] = x.size() < 3 ? std::pair<std::vector<double>, std::vector<double>>{}
                                       : rank_residuals(x, y, controls);
    result.rho = ex.empty() ? NAN : pearson(ex, ey);
    if (!std::isfinite(result.rho)) return result;
    const std::size_t n = x.size();
    SeededRandom random(options.seed);
    const Levels x_levels = levels_of(x), y_levels = levels_of(y);
    std::vector<Levels> control_levels;
    for (const auto& control : controls) control_levels.push_back(levels_of(control));
    std::vector<double> rhos, frequency, rx, ry, rz;
    Eigen::MatrixXd ranks(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(controls.size()) + 2);
    cluster_bootstrap(n, options.bootstrap_samples, random, [&](const std::vector<std::size_t>& sample) {
        sample_ranks(x_levels, sample, frequency, rx);
        sample_ranks(y_levels, sample, frequency, ry);
        ranks.col(0) = Eigen::Map<const Eigen::VectorXd>(rx.data(), static_cast<Eigen::Index>(n));
        ranks.col(1) = Eigen::Map<const Eigen::VectorXd>(ry.data(), static_cast<Eigen::Index>(n));
        for (std::size_t k = 0; k < controls.size(); ++k) {
            sample_ranks(control_levels[k], sample, frequency, rz);
            ranks.col(static_cast<Eigen::Index>(k) + 2) = Eigen::Map<const Eigen::VectorXd>(rz.data(), static_cast<Eigen::Index>(n));
        }
        const double rho = partial_from_gram(ranks);
        if (std::isfinite(rho)) rhos.push_back(rho);
    });
    const PercentileInterval interval = percentile_interval(std::move(rhos), options.bootstrap_samples);
    result.low = interval.low;
    result.high = interval.high;
    const PermutationTest test = shuffled_correlation_test(ex, ey, result.rho, options, random);
    result.p_value = test.p_value;
    result.permutations = test.permutations;
    result.exact = test.exact;
    return result;
}

}  // namespace cellscape
