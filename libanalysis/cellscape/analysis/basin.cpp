#include "cellscape/analysis/basin.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "cellscape/util/error.hpp"

namespace cellscape {
namespace {

// The index of the coordinate that is 0, if any (grids from linspace put 0
// within rounding of the span).
std::optional<std::size_t> origin_index(const std::vector<double>& axis) {
    if (axis.size() == 1) return axis.front() == 0 ? std::optional<std::size_t>(0) : std::nullopt;
    const double span = std::abs(axis.back() - axis.front());
    for (std::size_t i = 0; i < axis.size(); ++i)
        if (std::abs(axis[i]) <= 1e-9 * span) return i;
    return std::nullopt;
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace

BasinMetrics basin_metrics(const std::vector<double>& loss, const std::vector<double>& xs,
                           const std::vector<double>& ys, double level) {
    if (!(level > 1) || !std::isfinite(level))
        throw SettingError("basin_level", fmt::format("must be a number above 1 (got {})", level));
    if (xs.empty() || ys.empty() || loss.size() != xs.size() * ys.size())
        throw Error(fmt::format("internal: a basin needs {} x {} loss values (got {})", ys.size(), xs.size(),
                                loss.size()));
    BasinMetrics basin;
    const auto ix = origin_index(xs), iy = origin_index(ys);
    const auto nx = static_cast<std::ptrdiff_t>(xs.size()), ny = static_cast<std::ptrdiff_t>(ys.size());
    auto at = [&](std::ptrdiff_t i, std::ptrdiff_t j) { return loss[static_cast<std::size_t>(j * nx + i)]; };
    basin.origin_loss = ix && iy ? at(static_cast<std::ptrdiff_t>(*ix), static_cast<std::ptrdiff_t>(*iy)) : NAN;
    if (!(basin.origin_loss > 0) || !std::isfinite(basin.origin_loss)) {
        basin.fraction = basin.radius = NAN;
        return basin;
    }
    const double threshold = level * basin.origin_loss;
    int64_t inside = 0;
    for (double value : loss) inside += std::isfinite(value) && value <= threshold;
    basin.fraction = static_cast<double>(inside) / static_cast<double>(loss.size());

    const auto i0 = static_cast<std::ptrdiff_t>(*ix), j0 = static_cast<std::ptrdiff_t>(*iy);
    auto distance = [&](std::ptrdiff_t i, std::ptrdiff_t j) {
        return std::hypot(xs[static_cast<std::size_t>(i)] - xs[static_cast<std::size_t>(i0)],
                          ys[static_cast<std::size_t>(j)] - ys[static_cast<std::size_t>(j0)]);
    };
    std::vector<std::pair<int, int>> steps{{1, 0}, {-1, 0}};
    if (ny > 1) steps.insert(steps.end(), {{0, 1}, {0, -1}, {1, 1}, {1, -1}, {-1, 1}, {-1, -1}});
    std::vector<double> radii;
    for (const auto& [di, dj] : steps) {
        std::ptrdiff_t i = i0, j = j0;
        double last_distance = 0, last_loss = basin.origin_loss, radius = NAN;
        while (true) {
            const std::ptrdiff_t next_i = i + di, next_j = j + dj;
            if (next_i < 0 || next_i >= nx || next_j < 0 || next_j >= ny) {
                radius = last_distance;  // never left the basin inside the grid
                ++basin.rays_inside;
                break;
            }
            const double value = at(next_i, next_j), d = distance(next_i, next_j);
            if (!std::isfinite(value)) {
                radius = last_distance;
                break;
            }
            if (value > threshold) {
                radius = last_distance + (threshold - last_loss) / (value - last_loss) * (d - last_distance);
                break;
            }
            i = next_i, j = next_j, last_distance = d, last_loss = value;
        }
        radii.push_back(radius);
    }
    basin.rays = static_cast<int64_t>(radii.size());
    basin.radius = median(radii);
    return basin;
}

}  // namespace cellscape
