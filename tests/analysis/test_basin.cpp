// Basin metrics of a surface grid, against grids whose answer is known in
// closed form.
#include <catch2/catch.hpp>

#include <cmath>

#include "cellscape/analysis/basin.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using Approx = Catch::Detail::Approx;

namespace {

std::vector<double> axis(double min, double max, int count) {
    std::vector<double> values;
    for (int i = 0; i < count; ++i) values.push_back(min + (max - min) * i / (count - 1));
    return values;
}

}  // namespace

TEST_CASE("a paraboloid's basin: fraction by counting, radius where the level is crossed") {
    // L = 1 + a^2 + b^2 on [-1, 1]^2, 21 x 21 points; level 2 cuts at
    // L = 2, the unit circle. Along the axes the loss is 1 + t^2 at t = 0.1k:
    // it crosses 2 at t = 1 exactly, the grid's edge, and no axis point exceeds
    // it, so axis rays stay inside (radius 1, a lower bound); along a
    // diagonal L = 1 + 2t^2 with distance sqrt(2) t: between t = 0.7 (L =
    // 1.98) and 0.8 (L = 2.28) the linear interpolation crosses at t = 0.7 +
    // 0.1 * 0.02 / 0.30. The median of four 1's and four diagonal radii is
    // their mean.
    const auto xs = axis(-1, 1, 21), ys = xs;
    std::vector<double> loss;
    int64_t inside = 0;
    for (double b : ys)
        for (double a : xs) {
            loss.push_back(1 + a * a + b * b);
            inside += 1 + a * a + b * b <= 2 + 1e-12;
        }
    const BasinMetrics basin = basin_metrics(loss, xs, ys, 2.0);
    CHECK(basin.origin_loss == Approx(1.0));
    CHECK(basin.fraction == Approx(static_cast<double>(inside) / 441.0));
    CHECK(basin.rays == 8);
    CHECK(basin.rays_inside == 4);
    const double diagonal = std::sqrt(2.0) * (0.7 + 0.1 * 0.02 / 0.30);
    CHECK(basin.radius == Approx(0.5 * (1.0 + diagonal)).epsilon(1e-9));
}

TEST_CASE("a 1D surface has two rays, and non-finite points are outside") {
    const auto xs = axis(-0.5, 0.5, 11);  // 0.1 apart, the origin at index 5
    std::vector<double> loss;
    for (double a : xs) loss.push_back(1 + 10 * a * a);  // 2 at |a| = sqrt(0.1) = 0.316
    loss[0] = NAN;
    const BasinMetrics basin = basin_metrics(loss, xs, {0.0}, 2.0);
    CHECK(basin.rays == 2);
    // Between 0.3 (1.9) and 0.4 (2.6): 0.3 + 0.1 * 0.1 / 0.7 on both sides.
    CHECK(basin.radius == Approx(0.3 + 0.1 * 0.1 / 0.7).epsilon(1e-9));
    CHECK(basin.fraction == Approx(7.0 / 11.0));  // |a| <= 0.3; the NaN point is outside
}

TEST_CASE("a grid without the origin, or a bad level, has no basin") {
    const auto xs = axis(0.1, 1, 10);
    const std::vector<double> loss(100, 1.0);
    CHECK(std::isnan(basin_metrics(loss, xs, xs, 2.0).fraction));
    const auto centred = axis(-1, 1, 3);
    CHECK_THROWS_AS(basin_metrics(std::vector<double>(9, 1.0), centred, centred, 1.0), SettingError);
}
