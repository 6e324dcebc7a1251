#include "cellscape/stats/power.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "cellscape/stats/statistics.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/random.hpp"

namespace cellscape {
namespace {

// The strongest latent correlation simulated: r = 1 would leave no noise
// between cells of one predictor value, which no real study has.
constexpr double strongest_latent = 0.9999;

// `values` shifted and scaled to mean 0 and variance 1 (all zero when constant).
std::vector<double> standardized(std::vector<double> values) {
    const auto n = static_cast<double>(values.size());
    const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
    double squares = 0;
    for (double& v : values) {
        v -= mean;
        squares += v * v;
    }
    const double scale = squares > 0 ? std::sqrt(n / squares) : 0.0;
    for (double& v : values) v *= scale;
    return values;
}

// The residual of y regressed (with intercept) on x.
std::vector<double> residual(const std::vector<double>& y, const std::vector<double>& x) {
    const std::vector<double> xs = standardized(x), ys = standardized(y);
    double slope = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) slope += xs[i] * ys[i];
    slope /= static_cast<double>(xs.size());
    std::vector<double> result(ys.size());
    for (std::size_t i = 0; i < ys.size(); ++i) result[i] = ys[i] - slope * xs[i];
    return result;
}

// The design with everything the simulations reuse worked out once, and the
// random draws they share: every power of one design uses the same draws
// (common random numbers), so power grows smoothly with the effect.
class Simulator {
public:
    Simulator(const RankTestDesign& design, const PowerOptions& options) : options_(options), random_(options.seed) {
        const std::size_t n = design.predictor.size();
        if (design.seeds.size() != n || (!design.control.empty() && design.control.size() != n))
            throw SettingError("design", "needs one seed count (and one control value, if any) per cell");
        if (!(design.noise_ratio >= 0))
            throw SettingError("noise_ratio", fmt::format("must be at least 0 (got {})", design.noise_ratio));
        if (!(options.alpha > 0 && options.alpha < 1))
            throw SettingError("alpha", fmt::format("must be between 0 and 1 (got {})", options.alpha));
        if (options.simulations < 100 || options.null_simulations < 100)
            throw SettingError("simulations", "must be at least 100 (a power from fewer is mostly noise)");
        for (int64_t seeds : design.seeds)
            if (seeds < 1) throw SettingError("seeds", fmt::format("must be at least 1 per cell (got {})", seeds));
        x_ranks_ = average_ranks(design.predictor);
        if (!design.control.empty()) {
            z_ranks_ = average_ranks(design.control);
            signal_ = standardized(residual(x_ranks_, z_ranks_));
        } else {
            signal_ = standardized(x_ranks_);
        }
        usable_ = n >= 3 && std::isfinite(design.noise_ratio) &&
                  std::any_of(signal_.begin(), signal_.end(), [](double s) { return std::abs(s) > 1e-9; });
        if (!usable_) return;
        for (int64_t seeds : design.seeds) noise_sd_.push_back(std::sqrt(design.noise_ratio / static_cast<double>(seeds)));
        latent_.resize(static_cast<std::size_t>(options.simulations) * n);
        noise_.resize(latent_.size());
        for (double& u : latent_) u = random_.normal();
        for (double& e : noise_) e = random_.normal();
    }

    bool usable() const { return usable_; }

    // The expected rank correlation at latent correlation r of the
    // noise-free means (noisy: of the seed-averaged means a study observes).
    double effect(double r, bool noisy = false) const {
        double total = 0;
        int64_t counted = 0;
        std::vector<double> mu;
        for (int64_t s = 0; s < options_.simulations; ++s) {
            means(s, r, noisy, mu);
            const double value = statistic(mu, x_ranks_);
            if (std::isfinite(value)) total += value, ++counted;
        }
        return counted > 0 ? total / static_cast<double>(counted) : NAN;
    }

    // The share of simulated studies at latent correlation r whose test rejects.
    double power(double r) {
        if (null_.empty()) null_ = null_distribution(random_);
        int64_t rejected = 0;
        std::vector<double> m;
        for (int64_t s = 0; s < options_.simulations; ++s) {
            means(s, r, true, m);
            rejected += rejects(statistic(m, x_ranks_));
        }
        return static_cast<double>(rejected) / static_cast<double>(options_.simulations);
    }

private:
    // Simulated study s's cell means (with the seeds' noise, or noise-free).
    void means(int64_t s, double r, bool noisy, std::vector<double>& out) const {
        const std::size_t n = signal_.size(), offset = static_cast<std::size_t>(s) * n;
        const double spread = std::sqrt(1.0 - r * r);
        out.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            out[i] = r * signal_[i] + spread * latent_[offset + i];
            if (noisy) out[i] += noise_sd_[i] * noise_[offset + i];
        }
    }

    // The study's statistic (statistics.cpp: spearman, partial_spearman) of
    // the means against predictor ranks `x`, with the control's ranks held fixed.
    double statistic(const std::vector<double>& means, const std::vector<double>& x) const {
        const std::vector<double> m = average_ranks(means);
        const double mx = pearson(m, x);
        if (z_ranks_.empty()) return mx;
        return partial_correlation(mx, pearson(m, z_ranks_), pearson(x, z_ranks_));
    }

    // |statistic| of studies without an effect whose predictor is permuted
    // across cells, as the study's permutation test permutes it; sorted.
    std::vector<double> null_distribution(SeededRandom& random) const {
        const std::size_t n = signal_.size();
        std::vector<double> null, m(n), x = x_ranks_;
        const auto count = std::max(options_.null_simulations, static_cast<int64_t>(std::ceil(20.0 / options_.alpha)));
        for (int64_t s = 0; s < count; ++s) {
            for (double& value : m) value = random.normal();
            for (std::size_t i = n; i > 1; i -= 1) std::swap(x[i - 1], x[random.below(i)]);
            const double value = statistic(m, x);
            if (std::isfinite(value)) null.push_back(std::abs(value));
        }
        std::sort(null.begin(), null.end());
        return null;
    }

    bool rejects(double value) const {
        if (!std::isfinite(value) || null_.empty()) return false;
        const auto first = std::lower_bound(null_.begin(), null_.end(), std::abs(value) - 1e-12);
        const auto as_extreme = static_cast<double>(null_.end() - first);
        return (1.0 + as_extreme) / (static_cast<double>(null_.size()) + 1.0) < options_.alpha;
    }

    PowerOptions options_;
    SeededRandom random_;  // the latent and noise draws, then (when a power is asked) the null's
    std::vector<double> x_ranks_, z_ranks_, signal_, noise_sd_, latent_, noise_, null_;
    bool usable_ = false;
};

// The smallest r in [0, strongest_latent] with increasing(r) >= target, by
// bisection (`increasing` grows with r, up to simulation noise); NaN if
// even the strongest falls short.
template <typename Increasing>
double smallest_latent_reaching(Increasing increasing, double target, double tolerance) {
    if (!(increasing(strongest_latent) >= target)) return NAN;
    double low = 0, high = strongest_latent;
    while (high - low > tolerance) {
        const double middle = 0.5 * (low + high);
        (increasing(middle) >= target ? high : low) = middle;
    }
    return high;
}

}  // namespace

double VarianceComponents::noise_ratio() const {
    if (!std::isfinite(between) || !std::isfinite(within)) return NAN;
    if (between <= 0) return within > 0 ? std::numeric_limits<double>::infinity() : NAN;
    return within / between;
}

std::pair<double, double> VarianceComponents::noise_ratio_interval(double level) const {
    // No noise within cells at all (every seed of a cell agrees once the
    // seeds' shared effects are out) while the cells differ: exactly 0.
    if (within == 0 && between > 0) return {0.0, 0.0};
    if (!std::isfinite(f_statistic) || !(between_degrees > 0) || !(within_degrees > 0) || !(n0 > 0))
        return {NAN, NAN};
    const double tail = (1.0 - level) / 2.0;
    // theta = between / within at the interval's ends, then the noise ratio 1 / theta.
    const double theta_low = std::max(0.0, (f_statistic / f_quantile(1.0 - tail, between_degrees, within_degrees) - 1) / n0);
    const double theta_high = std::max(0.0, (f_statistic / f_quantile(tail, between_degrees, within_degrees) - 1) / n0);
    const double infinite = std::numeric_limits<double>::infinity();
    return {theta_high > 0 ? 1.0 / theta_high : infinite, theta_low > 0 ? 1.0 / theta_low : infinite};
}

namespace {

// The one-way ANOVA of `cells` (finite values only, none empty), with
// `lost_degrees` more degrees of freedom taken from the within-cell sum of
// squares (the seed effects estimated before it, or 0).
VarianceComponents one_way(const std::vector<std::vector<double>>& cells, int64_t lost_degrees) {
    VarianceComponents result;
    result.cells = static_cast<int64_t>(cells.size());
    double total = 0, squared_counts = 0;
    for (const auto& values : cells) {
        result.replicates += static_cast<int64_t>(values.size());
        total += std::accumulate(values.begin(), values.end(), 0.0);
        squared_counts += static_cast<double>(values.size() * values.size());
    }
    const auto cells_count = static_cast<double>(result.cells), count = static_cast<double>(result.replicates);
    const double within_degrees = count - cells_count - static_cast<double>(lost_degrees);
    if (result.cells < 2 || within_degrees < 1) return result;  // no spread between or within
    const double grand = total / count;
    double between_squares = 0, within_squares = 0;
    for (const auto& values : cells) {
        const double mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
        between_squares += static_cast<double>(values.size()) * (mean - grand) * (mean - grand);
        for (double v : values) within_squares += (v - mean) * (v - mean);
    }
    const double between_mean_square = between_squares / (cells_count - 1);
    result.within = within_squares / within_degrees;
    const double n0 = (count - squared_counts / count) / (cells_count - 1);
    // A difference of mean squares within rounding of them is none (equal
    // cells, or seed effects that were all there was, leave ~1e-17).
    const double excess = between_mean_square - result.within;
    const double rounding = 1e-12 * std::max(between_mean_square, result.within);
    result.between = excess > rounding ? excess / n0 : 0.0;
    result.n0 = n0;
    result.between_degrees = cells_count - 1;
    result.within_degrees = within_degrees;
    if (result.within > 0) result.f_statistic = between_mean_square / result.within;
    return result;
}

}  // namespace

VarianceComponents variance_components(const std::vector<std::vector<double>>& replicates) {
    std::vector<std::vector<double>> cells;
    for (const auto& values : replicates) {
        std::vector<double> finite;
        for (double v : values)
            if (std::isfinite(v)) finite.push_back(v);
        if (!finite.empty()) cells.push_back(std::move(finite));
    }
    return one_way(cells, 0);
}

VarianceComponents variance_components(const std::vector<std::vector<double>>& replicates,
                                       const std::vector<std::vector<int64_t>>& seeds) {
    if (seeds.size() != replicates.size())
        throw Error("internal: variance_components needs one seed per replicate");
    struct SeedDeviation {
        double sum = 0;
        int64_t count = 0;
        std::vector<std::size_t> cells;
    };
    std::map<int64_t, SeedDeviation> by_seed;
    std::vector<std::vector<std::pair<double, int64_t>>> cells;  // finite (value, seed) per cell
    for (std::size_t c = 0; c < replicates.size(); ++c) {
        if (seeds[c].size() != replicates[c].size())
            throw Error("internal: variance_components needs one seed per replicate");
        std::vector<std::pair<double, int64_t>> finite;
        for (std::size_t k = 0; k < replicates[c].size(); ++k)
            if (std::isfinite(replicates[c][k])) finite.emplace_back(replicates[c][k], seeds[c][k]);
        if (finite.empty()) continue;
        double mean = 0;
        for (const auto& [value, seed] : finite) mean += value;
        mean /= static_cast<double>(finite.size());
        for (const auto& [value, seed] : finite) {
            SeedDeviation& deviation = by_seed[seed];
            deviation.sum += value - mean;
            deviation.count += 1;
            if (deviation.cells.empty() || deviation.cells.back() != cells.size()) deviation.cells.push_back(cells.size());
        }
        cells.push_back(std::move(finite));
    }
    // A seed's effect: the mean deviation of its replicates from their cells'
    // means, for seeds shared by at least 2 cells (a seed of one cell is
    // indistinguishable from that cell's noise).
    std::map<int64_t, double> effect;
    for (const auto& [seed, deviation] : by_seed)
        if (deviation.cells.size() >= 2) effect[seed] = deviation.sum / static_cast<double>(deviation.count);
    std::vector<std::vector<double>> adjusted;
    for (const auto& values : cells) {
        adjusted.emplace_back();
        for (const auto& [value, seed] : values) {
            const auto found = effect.find(seed);
            adjusted.back().push_back(found == effect.end() ? value : value - found->second);
        }
    }
    const auto estimated = static_cast<int64_t>(effect.size());
    return one_way(adjusted, estimated >= 2 ? estimated - 1 : 0);
}

double latent_correlation(const RankTestDesign& design, double rho, const PowerOptions& options) {
    const Simulator simulator(design, options);
    if (!simulator.usable()) return NAN;
    return smallest_latent_reaching([&](double latent) { return simulator.effect(latent); }, std::abs(rho), 1e-5);
}

double power_at_latent(const RankTestDesign& design, double latent, const PowerOptions& options) {
    Simulator simulator(design, options);
    return simulator.usable() && std::isfinite(latent) ? simulator.power(latent) : NAN;
}

PowerEstimate rank_test_power(const RankTestDesign& design, double rho, const PowerOptions& options) {
    Simulator simulator(design, options);
    PowerEstimate estimate;
    estimate.rho = std::abs(rho);
    if (!simulator.usable()) return estimate;
    const double r = smallest_latent_reaching([&](double latent) { return simulator.effect(latent); },
                                              estimate.rho, 1e-5);
    if (std::isfinite(r)) estimate.power = simulator.power(r);
    return estimate;
}

double minimum_detectable_rho(const RankTestDesign& design, double power, const PowerOptions& options) {
    if (!(power > options.alpha && power < 1))
        throw SettingError("power", fmt::format("must be between alpha ({}) and 1 (got {})", options.alpha, power));
    Simulator simulator(design, options);
    if (!simulator.usable()) return NAN;
    const double r = smallest_latent_reaching([&](double latent) { return simulator.power(latent); }, power, 1e-4);
    return std::isfinite(r) ? simulator.effect(r) : NAN;
}

double attenuated_rho(const RankTestDesign& design, double rho, const PowerOptions& options) {
    if (std::isinf(design.noise_ratio) && design.predictor.size() >= 3) return 0.0;
    const Simulator simulator(design, options);
    if (!simulator.usable()) return NAN;
    const double latent =
        smallest_latent_reaching([&](double r) { return simulator.effect(r); }, std::abs(rho), 1e-5);
    if (!std::isfinite(latent)) return NAN;
    return std::copysign(simulator.effect(latent, true), rho);
}

std::vector<double> scaled_predictor(const std::vector<double>& pilot, int64_t cells) {
    if (pilot.empty() || cells < 1) throw SettingError("cells", "needs a pilot with cells and at least one new cell");
    std::map<double, int64_t> counts;
    for (double value : pilot) ++counts[value];
    struct Share {
        double value;
        int64_t count;
        double remainder;
    };
    std::vector<Share> shares;
    int64_t given = 0;
    for (const auto& [value, count] : counts) {
        const double exact = static_cast<double>(cells) * static_cast<double>(count) / static_cast<double>(pilot.size());
        const auto whole = static_cast<int64_t>(std::floor(exact));
        shares.push_back({value, whole, exact - static_cast<double>(whole)});
        given += whole;
    }
    std::vector<std::size_t> order(shares.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return shares[a].remainder > shares[b].remainder; });
    for (std::size_t i = 0; given < cells; ++i, ++given) ++shares[order[i % order.size()]].count;
    std::vector<double> values;
    for (const Share& share : shares) values.insert(values.end(), static_cast<std::size_t>(share.count), share.value);
    return values;
}

RankTestDesign measured_design(const std::vector<std::vector<double>>& replicates, double noise_ratio,
                               const std::vector<double>& predictor, const std::vector<double>& control) {
    RankTestDesign design;
    for (std::size_t c = 0; c < replicates.size(); ++c) {
        const auto finite = std::count_if(replicates[c].begin(), replicates[c].end(),
                                          [](double v) { return std::isfinite(v); });
        if (finite == 0) continue;
        design.predictor.push_back(predictor[c]);
        if (!control.empty()) design.control.push_back(control[c]);
        design.seeds.push_back(static_cast<int64_t>(finite));
    }
    design.noise_ratio = noise_ratio;
    return design;
}

RankTestDesign scaled_design(const std::vector<double>& pilot_predictor, int64_t cells, int64_t seeds,
                             double noise_ratio) {
    RankTestDesign design;
    design.predictor = scaled_predictor(pilot_predictor, cells);
    design.seeds.assign(static_cast<std::size_t>(cells), seeds);
    design.noise_ratio = noise_ratio;
    return design;
}

int64_t fewest_cells(const std::vector<double>& pilot_predictor, int64_t seeds, double noise_ratio, double latent,
                     double power, int64_t max_cells, const PowerOptions& options, double& reached) {
    auto design_power = [&](int64_t cells) {
        return power_at_latent(scaled_design(pilot_predictor, cells, seeds, noise_ratio), latent, options);
    };
    int64_t low = 3, high = 4;  // power(low) < target <= power(high) once found
    double high_power = design_power(high);
    while (!(high_power >= power)) {
        if (high >= max_cells) return 0;
        low = high;
        high = std::min(2 * high, max_cells);
        high_power = design_power(high);
    }
    while (high - low > 1) {
        const int64_t middle = (low + high) / 2;
        const double middle_power = design_power(middle);
        if (middle_power >= power) {
            high = middle;
            high_power = middle_power;
        } else {
            low = middle;
        }
    }
    reached = high_power;
    return high;
}


}  // namespace cellscape
