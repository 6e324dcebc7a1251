#include "cellscape/stats/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cellscape/stats/bootstrap.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/random.hpp"

namespace cellscape {
namespace {

// The continued fraction of the regularized incomplete beta function
// (modified Lentz's method), for x < (a + 1) / (a + b + 2) where it
// converges fast.
double incomplete_beta_fraction(double a, double b, double x) {
    constexpr double tiny = 1e-300, epsilon = 1e-15;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (std::abs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double result = d;
    for (int m = 1; m <= 500; ++m) {
        const double m2 = 2.0 * m;
        // Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
        double numerator = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + numerator * d;
        c = 1.0 + numerator / c;
        d = 1.0 / (std::abs(d) < tiny ? tiny : d);
        c = std::abs(c) < tiny ? tiny : c;
        result *= d * c;
        // Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
        numerator = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + numerator * d;
        c = 1.0 + numerator / c;
        d = 1.0 / (std::abs(d) < tiny ? tiny : d);
        c = std::abs(c) < tiny ? tiny : c;
        const double step = d * c;
        result *= step;
        if (std::abs(step - 1.0) < epsilon) break;
    }
    return result;
}

// I_x(a, b), the regularized incomplete beta function.
double regularized_incomplete_beta(double a, double b, double x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    const double front =
        std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
    if (x < (a + 1.0) / (a + b + 2.0)) return front * incomplete_beta_fraction(a, b, x) / a;
    return 1.0 - front * incomplete_beta_fraction(b, a, 1.0 - x) / b;
}

// P(T <= t) for Student's t with `dof` degrees of freedom.
double student_t_cdf(double t, double dof) {
    const double tail = 0.5 * regularized_incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t));
    return t >= 0 ? 1.0 - tail : tail;
}

// The association statistic: Spearman's rho, or the partial one with `control`.
double rank_statistic(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>* control) {
    return control ? partial_spearman(x, y, *control) : spearman(x, y);
}

std::vector<double> finite_values(const std::vector<double>& values) {
    std::vector<double> finite;
    for (double v : values)
        if (std::isfinite(v)) finite.push_back(v);
    return finite;
}

double mean_of(const std::vector<double>& values) {
    return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

}  // namespace

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
    const auto n = static_cast<double>(x.size());
    const double mean_x = std::accumulate(x.begin(), x.end(), 0.0) / n;
    const double mean_y = std::accumulate(y.begin(), y.end(), 0.0) / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        sxy += (x[i] - mean_x) * (y[i] - mean_y);
        sxx += (x[i] - mean_x) * (x[i] - mean_x);
        syy += (y[i] - mean_y) * (y[i] - mean_y);
    }
    return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : NAN;
}

double partial_correlation(double r_xy, double r_xz, double r_yz) {
    if (!std::isfinite(r_xy)) return NAN;
    if (!std::isfinite(r_xz) || !std::isfinite(r_yz)) return r_xy;
    const double denominator = std::sqrt((1.0 - r_xz * r_xz) * (1.0 - r_yz * r_yz));
    return denominator > 1e-12 ? (r_xy - r_xz * r_yz) / denominator : NAN;
}

double student_t_quantile(double p, double dof) {
    if (!(p > 0 && p < 1) || !(dof > 0)) throw Error("internal: a t quantile needs 0 < p < 1 and dof > 0");
    if (p < 0.5) return -student_t_quantile(1.0 - p, dof);
    // The CDF is increasing: bisection on [0, hi] to double precision.
    double low = 0, high = 1;
    while (student_t_cdf(high, dof) < p) high *= 2;
    for (int i = 0; i < 200 && high - low > 1e-14 * high; ++i) {
        const double middle = 0.5 * (low + high);
        (student_t_cdf(middle, dof) < p ? low : high) = middle;
    }
    return 0.5 * (low + high);
}

double f_cdf(double x, double d1, double d2) {
    if (!(d1 > 0) || !(d2 > 0)) throw Error("internal: an F distribution needs positive degrees of freedom");
    if (!(x > 0)) return 0;
    if (std::isinf(x)) return 1;
    return regularized_incomplete_beta(d1 / 2.0, d2 / 2.0, d1 * x / (d1 * x + d2));
}

double f_quantile(double p, double d1, double d2) {
    if (!(p > 0 && p < 1) || !(d1 > 0) || !(d2 > 0))
        throw Error("internal: an F quantile needs 0 < p < 1 and positive degrees of freedom");
    // The CDF is increasing: bracket, then bisect to double precision.
    double low = 0, high = 1;
    while (f_cdf(high, d1, d2) < p) low = high, high *= 2;
    for (int i = 0; i < 300 && high - low > 1e-14 * high; ++i) {
        const double middle = 0.5 * (low + high);
        (f_cdf(middle, d1, d2) < p ? low : high) = middle;
    }
    return 0.5 * (low + high);
}

double finite_mean(const std::vector<double>& values) {
    const std::vector<double> finite = finite_values(values);
    return finite.empty() ? NAN : mean_of(finite);
}

MeanInterval mean_interval(const std::vector<double>& values, double level) {
    const std::vector<double> finite = finite_values(values);
    MeanInterval result;
    result.n = static_cast<int64_t>(finite.size());
    if (finite.empty()) {
        result.mean = result.std = result.low = result.high = NAN;
        return result;
    }
    result.mean = mean_of(finite);
    if (finite.size() < 2) {
        result.std = result.low = result.high = NAN;
        return result;
    }
    double squares = 0;
    for (double v : finite) squares += (v - result.mean) * (v - result.mean);
    result.std = std::sqrt(squares / static_cast<double>(finite.size() - 1));
    const double half = student_t_quantile(0.5 + level / 2.0, static_cast<double>(finite.size() - 1)) * result.std /
                        std::sqrt(static_cast<double>(finite.size()));
    result.low = result.mean - half;
    result.high = result.mean + half;
    return result;
}

std::vector<double> average_ranks(const std::vector<double>& values) {
    std::vector<std::size_t> order(values.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
    std::vector<double> ranks(values.size());
    for (std::size_t start = 0; start < order.size();) {
        std::size_t end = start + 1;
        while (end < order.size() && values[order[end]] == values[order[start]]) ++end;
        const double rank = 0.5 * static_cast<double>(start + 1 + end);  // the mean of ranks start+1 .. end
        for (std::size_t i = start; i < end; ++i) ranks[order[i]] = rank;
        start = end;
    }
    return ranks;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
    if (x.size() != y.size()) throw Error("internal: spearman of vectors of different lengths");
    if (x.size() < 3) return NAN;
    return pearson(average_ranks(x), average_ranks(y));
}

double partial_spearman(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& z) {
    return partial_correlation(spearman(x, y), spearman(x, z), spearman(y, z));
}

std::vector<double> gehan_scores(const std::vector<double>& times, const std::vector<bool>& censored) {
    if (times.size() != censored.size()) throw Error("internal: gehan_scores needs one censoring flag per time");
    std::vector<double> scores(times.size(), 0.0);
    for (std::size_t i = 0; i < times.size(); ++i)
        for (std::size_t j = 0; j < times.size(); ++j) {
            if (i == j) continue;
            // j certainly faster than i: j converged before i did, or (i
            // censored) by the time i was last seen not to have converged.
            if (!censored[j] && (times[j] < times[i] || (censored[i] && times[j] <= times[i]))) scores[i] += 1;
            if (!censored[i] && (times[i] < times[j] || (censored[j] && times[i] <= times[j]))) scores[i] -= 1;
        }
    return scores;
}

PermutationTest permutation_test(std::size_t n, double observed, int64_t permutations, SeededRandom& random,
                                 const std::function<double(const std::vector<std::size_t>&)>& statistic) {
    PermutationTest test;
    if (!std::isfinite(observed) || n < 2) return test;
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    // Ties with the observed value up to rounding count as extreme (the
    // same rho reached by a different ordering differs in the last bits).
    auto extreme = [&](double value) { return std::isfinite(value) && std::abs(value) >= std::abs(observed) - 1e-12; };
    // n! while it stays within the limit (20! overflows 64 bits; long before, it is sampled).
    int64_t orderings = 1;
    for (std::size_t k = 2; k <= n && orderings <= std::max(exact_permutation_limit, permutations); ++k)
        orderings *= static_cast<int64_t>(k);
    // An ordering whose statistic is undefined (e.g. a partial correlation
    // whose shuffled predictor the control explains completely) is no draw
    // from the null of a defined statistic: it counts in neither the
    // numerator nor the denominator.
    int64_t as_extreme = 0, defined = 0;
    auto count = [&](double value) {
        if (!std::isfinite(value)) return;
        ++defined;
        as_extreme += extreme(value);
    };
    if (orderings <= std::max(exact_permutation_limit, permutations)) {
        do count(statistic(order));
        while (std::next_permutation(order.begin(), order.end()));
        test.p_value = defined > 0 ? static_cast<double>(as_extreme) / static_cast<double>(defined) : NAN;
        test.permutations = orderings;
        test.exact = true;
        return test;
    }
    for (int64_t p = 0; p < permutations; ++p) {
        for (std::size_t i = n; i > 1; i -= 1) std::swap(order[i - 1], order[random.below(i)]);
        count(statistic(order));
    }
    test.p_value = static_cast<double>(as_extreme + 1) / static_cast<double>(defined + 1);
    test.permutations = permutations;
    return test;
}

namespace {

// A cell of a rank association: the mean of its replicates' metric (y),
// its predictor or the mean of the other metric (x), and the control.
struct AssociationCell {
    double y = NAN, x = NAN, control = NAN;
};

// The association over cells (associate's contract): rho of the cells' means,
// the cluster bootstrap interval, the permutation p-value.
Association associate_cells(const std::vector<AssociationCell>& cells, bool controlled,
                            const AssociationOptions& options) {
    std::vector<double> means, x, z;
    for (const AssociationCell& cell : cells) {
        means.push_back(cell.y);
        x.push_back(cell.x);
        z.push_back(cell.control);
    }
    const std::vector<double>* held = controlled ? &z : nullptr;
    Association result;
    result.cells = static_cast<int64_t>(cells.size());
    result.rho = cells.size() >= 3 ? rank_statistic(means, x, held) : NAN;
    if (!std::isfinite(result.rho)) {
        result.low = result.high = result.p_value = NAN;
        return result;
    }
    SeededRandom random(options.seed);
    // The cluster bootstrap (stats/bootstrap.hpp): cells with replacement, each with its mean.
    std::vector<double> rhos, sample_means(cells.size()), sample_x(cells.size()), sample_z(cells.size());
    cluster_bootstrap(cells.size(), options.bootstrap_samples, random, [&](const std::vector<std::size_t>& sample) {
        for (std::size_t i = 0; i < sample.size(); ++i) {
            sample_means[i] = means[sample[i]];
            sample_x[i] = x[sample[i]];
            sample_z[i] = z[sample[i]];
        }
        const double rho = rank_statistic(sample_means, sample_x, held ? &sample_z : nullptr);
        if (std::isfinite(rho)) rhos.push_back(rho);
    });
    const PercentileInterval interval = percentile_interval(std::move(rhos), options.bootstrap_samples);
    result.low = interval.low;
    result.high = interval.high;
    result.degenerate_interval = interval.degenerate;
    // Permutation test: x shuffled across cells (the control stays with its cell).
    std::vector<double> shuffled(x.size());
    const PermutationTest test =
        permutation_test(x.size(), result.rho, options.permutations, random, [&](const std::vector<std::size_t>& order) {
            for (std::size_t i = 0; i < order.size(); ++i) shuffled[i] = x[order[i]];
            return rank_statistic(means, shuffled, held);
        });
    result.p_value = test.p_value;
    result.permutations = test.permutations;
    result.exact = test.exact;
    return result;
}

}  // namespace

namespace {

// The cells with at least one finite replicate, with their means.
std::vector<AssociationCell> cells_with_values(const std::vector<std::vector<double>>& replicates,
                                               const std::vector<double>& predictor, const std::vector<double>& control) {
    std::vector<AssociationCell> cells;
    for (std::size_t c = 0; c < replicates.size(); ++c) {
        const std::vector<double> finite = finite_values(replicates[c]);
        if (finite.empty()) continue;
        cells.push_back({mean_of(finite), predictor[c], control.empty() ? NAN : control[c]});
    }
    return cells;
}

}  // namespace

Association associate(const std::vector<std::vector<double>>& replicates, const std::vector<double>& predictor,
                      const std::vector<double>& control, const AssociationOptions& options) {
    return associate_cells(cells_with_values(replicates, predictor, control), !control.empty(), options);
}

Association association_estimate(const std::vector<std::vector<double>>& replicates,
                                 const std::vector<double>& predictor, const std::vector<double>& control) {
    const std::vector<AssociationCell> cells = cells_with_values(replicates, predictor, control);
    std::vector<double> means, x, z;
    for (const AssociationCell& cell : cells) {
        means.push_back(cell.y);
        x.push_back(cell.x);
        z.push_back(cell.control);
    }
    Association result;
    result.cells = static_cast<int64_t>(cells.size());
    result.rho = cells.size() >= 3 ? rank_statistic(means, x, control.empty() ? nullptr : &z) : NAN;
    result.low = result.high = result.p_value = NAN;
    return result;
}

namespace {

// The cells with at least one replicate where both metrics are finite, with
// the means of those replicates.
std::vector<AssociationCell> paired_cells(const std::vector<std::vector<double>>& metric,
                                          const std::vector<std::vector<double>>& other) {
    if (metric.size() != other.size()) throw Error("internal: associate_paired needs both metrics for every cell");
    std::vector<AssociationCell> cells;
    for (std::size_t c = 0; c < metric.size(); ++c) {
        std::vector<double> y, x;
        for (std::size_t r = 0; r < std::min(metric[c].size(), other[c].size()); ++r)
            if (std::isfinite(metric[c][r]) && std::isfinite(other[c][r])) {
                y.push_back(metric[c][r]);
                x.push_back(other[c][r]);
            }
        if (!y.empty()) cells.push_back({mean_of(y), mean_of(x), NAN});
    }
    return cells;
}

}  // namespace

Association associate_paired(const std::vector<std::vector<double>>& metric,
                              const std::vector<std::vector<double>>& other, const AssociationOptions& options) {
    return associate_cells(paired_cells(metric, other), false, options);
}

Association paired_association_estimate(const std::vector<std::vector<double>>& metric,
                                        const std::vector<std::vector<double>>& other) {
    const std::vector<AssociationCell> cells = paired_cells(metric, other);
    std::vector<double> y, x;
    for (const AssociationCell& cell : cells) y.push_back(cell.y), x.push_back(cell.x);
    Association result;
    result.cells = static_cast<int64_t>(cells.size());
    result.rho = cells.size() >= 3 ? spearman(y, x) : NAN;
    result.low = result.high = result.p_value = NAN;
    return result;
}

std::vector<double> holm_adjusted(const std::vector<double>& p_values) {
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < p_values.size(); ++i)
        if (std::isfinite(p_values[i])) order.push_back(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return p_values[a] < p_values[b]; });
    std::vector<double> adjusted(p_values.size(), NAN);
    const auto family = static_cast<double>(order.size());
    double running = 0;
    for (std::size_t rank = 0; rank < order.size(); ++rank) {
        const double scaled = std::min(1.0, (family - static_cast<double>(rank)) * p_values[order[rank]]);
        running = std::max(running, scaled);
        adjusted[order[rank]] = running;
    }
    return adjusted;
}

std::string equivalence_outcome(double low, double high, double bound) {
    if (!std::isfinite(low) || !std::isfinite(high) || !std::isfinite(bound)) return "no interval";
    return low > -bound && high < bound ? "equivalent" : "not equivalent";
}

}  // namespace cellscape
