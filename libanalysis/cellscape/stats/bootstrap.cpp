#include "cellscape/stats/bootstrap.hpp"

#include <algorithm>
#include <cmath>

namespace cellscape {

double sorted_percentile(const std::vector<double>& sorted, double q) {
    const double position = q * static_cast<double>(sorted.size() - 1);
    const auto below = static_cast<std::size_t>(std::floor(position));
    const std::size_t above = std::min(below + 1, sorted.size() - 1);
    return sorted[below] + (position - static_cast<double>(below)) * (sorted[above] - sorted[below]);
}

void cluster_bootstrap(std::size_t n, int64_t resamples, SeededRandom& random,
                       const std::function<void(const std::vector<std::size_t>& sample)>& visit) {
    std::vector<std::size_t> sample(n);
    for (int64_t b = 0; b < resamples; ++b) {
        for (std::size_t i = 0; i < n; ++i) sample[i] = static_cast<std::size_t>(random.below(n));
        visit(sample);
    }
}

PercentileInterval percentile_interval(std::vector<double> values, int64_t resamples) {
    PercentileInterval interval;
    if (static_cast<int64_t>(values.size()) < std::max<int64_t>(20, resamples / 2)) return interval;
    std::sort(values.begin(), values.end());
    interval.low = sorted_percentile(values, 0.025);
    interval.high = sorted_percentile(values, 0.975);
    interval.degenerate = values.back() - values.front() < 1e-12;
    return interval;
}

}  // namespace cellscape
