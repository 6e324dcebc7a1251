#include "cellscape/study/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

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

// The association statistic: Spearman's rho, or the partial one with `control`.
double rank_statistic(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>* control) {
    return control ? partial_spearman(x, y, *control) : spearman(x, y);
}

double percentile(std::vector<double> sorted, double q) {
    const double position = q * static_cast<double>(sorted.size() - 1);
    const auto below = static_cast<std::size_t>(std::floor(position));
    const std::size_t above = std::min(below + 1, sorted.size() - 1);
    return sorted[below] + (position - static_cast<double>(below)) * (sorted[above] - sorted[below]);
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
    const double xy = spearman(x, y), xz = spearman(x, z), yz = spearman(y, z);
    if (!std::isfinite(xy)) return NAN;
    if (!std::isfinite(xz) || !std::isfinite(yz)) return xy;  // a constant control explains nothing
    const double denominator = std::sqrt((1.0 - xz * xz) * (1.0 - yz * yz));
    return denominator > 1e-12 ? (xy - xz * yz) / denominator : NAN;
}

Association associate(const std::vector<std::vector<double>>& replicates, const std::vector<double>& predictor,
                      const std::vector<double>& control, const AssociationOptions& options) {
    // The cells with at least one finite replicate.
    std::vector<std::vector<double>> cells;
    std::vector<double> x, z;
    for (std::size_t c = 0; c < replicates.size(); ++c) {
        std::vector<double> finite = finite_values(replicates[c]);
        if (finite.empty()) continue;
        cells.push_back(std::move(finite));
        x.push_back(predictor[c]);
        if (!control.empty()) z.push_back(control[c]);
    }
    const std::vector<double>* held = control.empty() ? nullptr : &z;
    Association result;
    result.cells = static_cast<int64_t>(cells.size());
    std::vector<double> means;
    for (const auto& values : cells) means.push_back(mean_of(values));
    result.rho = cells.size() >= 3 ? rank_statistic(means, x, held) : NAN;
    if (!std::isfinite(result.rho)) {
        result.low = result.high = result.p_value = NAN;
        return result;
    }
    SeededRandom random(options.seed);
    // Bootstrap: cells with replacement, and each chosen cell's replicates with replacement.
    std::vector<double> rhos;
    for (int64_t b = 0; b < options.bootstrap_samples; ++b) {
        std::vector<double> sample_means, sample_x, sample_z;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            const auto c = static_cast<std::size_t>(random.below(cells.size()));
            double sum = 0;
            for (std::size_t r = 0; r < cells[c].size(); ++r) sum += cells[c][random.below(cells[c].size())];
            sample_means.push_back(sum / static_cast<double>(cells[c].size()));
            sample_x.push_back(x[c]);
            if (held) sample_z.push_back(z[c]);
        }
        const double rho = rank_statistic(sample_means, sample_x, held ? &sample_z : nullptr);
        if (std::isfinite(rho)) rhos.push_back(rho);
    }
    std::sort(rhos.begin(), rhos.end());
    const bool enough = static_cast<int64_t>(rhos.size()) >= std::max<int64_t>(20, options.bootstrap_samples / 2);
    result.low = enough ? percentile(rhos, 0.025) : NAN;
    result.high = enough ? percentile(rhos, 0.975) : NAN;
    // Permutation test: the predictor shuffled across cells (the control stays with its cell).
    int64_t as_extreme = 0;
    std::vector<double> shuffled = x;
    for (int64_t p = 0; p < options.permutations; ++p) {
        for (std::size_t i = shuffled.size(); i > 1; i -= 1) std::swap(shuffled[i - 1], shuffled[random.below(i)]);
        const double rho = rank_statistic(means, shuffled, held);
        if (std::isfinite(rho) && std::abs(rho) >= std::abs(result.rho) - 1e-12) ++as_extreme;
    }
    result.p_value = static_cast<double>(as_extreme + 1) / static_cast<double>(options.permutations + 1);
    return result;
}

}  // namespace cellscape
