// Rank statistics for tables of cells (stats/rank_correlation.hpp), against
// hand counts, scipy's published examples and the study's own association.
#include <catch2/catch.hpp>

#include <cmath>

#include "cellscape/stats/rank_correlation.hpp"
#include "cellscape/util/random.hpp"

using namespace cellscape;

TEST_CASE("Kendall's tau-b matches scipy's documented example with ties and a hand count") {
    // scipy.stats.kendalltau's docstring: x = [12, 2, 1, 12, 2], y = [1, 4, 7, 1, 0] -> -0.47140452079103173.
    // Exact to rounding: the score is a ratio of integers (-3 / sqrt(9 * 9) ... by hand: concordant 1,
    // discordant 5 of 10 pairs, ties in x 2, in y 1: (1 - 5) / sqrt(8 * 9)).
    CHECK(kendall_tau_b({12, 2, 1, 12, 2}, {1, 4, 7, 1, 0}) == Approx(-0.47140452079103173).epsilon(1e-14));
    CHECK(kendall_tau_b({1, 2, 3, 4}, {10, 20, 30, 40}) == 1.0);
    CHECK(std::isnan(kendall_tau_b({1, 1, 1}, {1, 2, 3})));
}

TEST_CASE("partial Spearman with one control is the three-correlation formula, and repeated controls add nothing") {
    SeededRandom random(3);
    std::vector<double> x, y, z, twice, total;
    for (int i = 0; i < 200; ++i) {
        const double shared = random.normal();
        z.push_back(std::round(3 * shared));  // ties, as operation counts have
        x.push_back(shared + random.normal());
        y.push_back(shared + 0.5 * random.normal());
        twice.push_back(2 * z.back() + 1);
    }
    const double formula = partial_spearman(x, y, z);
    // The residual route and the formula are the same algebra; 1e-12 is rounding over 200 units.
    CHECK(partial_spearman(x, y, std::vector<std::vector<double>>{z}) == Approx(formula).margin(1e-12));
    // A control that is a function of another (its ranks are the same) changes nothing.
    CHECK(partial_spearman(x, y, std::vector<std::vector<double>>{z, twice}) == Approx(formula).margin(1e-12));
    // Controls that explain x completely leave nothing to correlate.
    CHECK(std::isnan(partial_spearman(x, y, std::vector<std::vector<double>>{x})));
}

TEST_CASE("top overlap counts the shared best units, ties as shares of the places left") {
    // Best 2 of 5 by y: units 4, 3. Best 2 by x: units 4 and 0. Shared: unit 4 -> 1/2.
    CHECK(top_overlap({9, 1, 2, 3, 10}, {1, 2, 3, 4, 5}, 0.4) == 0.5);
    // x ties three units (1, 2, 3) for its one place left after unit 4: each counts 1/3; y's best 2 are 3, 4.
    CHECK(top_overlap({0, 5, 5, 5, 9}, {1, 2, 3, 4, 5}, 0.4) == Approx((1.0 + 1.0 / 3) / 2).epsilon(1e-15));
    CHECK(top_overlap({1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}, 0.2) == 1.0);
}

TEST_CASE("rank_association gives associate()'s numbers exactly, from the same draws") {
    SeededRandom random(11);
    std::vector<double> metric, value;
    for (int i = 0; i < 60; ++i) {
        metric.push_back(std::floor(4 * random.uniform()) / 2);  // widths: few levels, many ties
        value.push_back(0.3 * metric.back() + random.normal());
    }
    AssociationOptions options;
    options.bootstrap_samples = 500;
    options.permutations = 400;
    options.seed = 5;
    std::vector<std::vector<double>> replicates;
    for (double m : metric) replicates.push_back({m});
    const Association reference = associate(replicates, value, {}, options);
    const Association fast = rank_association(metric, value, options);
    // Same ranks (exact halves), same sums in the same order: bit for bit.
    CHECK(fast.rho == reference.rho);
    CHECK(fast.low == reference.low);
    CHECK(fast.high == reference.high);
    CHECK(fast.p_value == reference.p_value);
    CHECK(fast.permutations == reference.permutations);
}

TEST_CASE("partial association: the interval covers the planted partial effect and excludes it when absent") {
    SeededRandom random(7);
    std::vector<double> x, y, y_null, z;
    for (int i = 0; i < 400; ++i) {
        z.push_back(std::floor(6 * random.uniform()));
        x.push_back(z.back() + random.normal());
        y.push_back(z.back() + 0.8 * x.back() + random.normal());  // x acts beyond z
        y_null.push_back(2 * z.back() + random.normal());          // only through z
    }
    AssociationOptions options;
    options.bootstrap_samples = 400;
    options.permutations = 400;
    const std::vector<std::vector<double>> controls{z};
    const PartialAssociation effect = partial_associate(x, y, controls, options);
    CHECK(effect.low > 0.2);  // the population partial rho is about 0.5
    CHECK(effect.p_value < 0.01);
    CHECK(effect.low <= effect.rho);
    CHECK(effect.rho <= effect.high);
    const PartialAssociation none = partial_associate(x, y_null, controls, options);
    // Raw rho is large (both follow z); with z held fixed, 0 lies inside the interval.
    CHECK(spearman(x, y_null) > 0.5);
    CHECK(none.low < 0);
    CHECK(none.high > 0);
}
