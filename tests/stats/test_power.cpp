// Power planning (stats/power.hpp) against independent references: the
// analysis of variance by hand, and the power of the study's own test found
// by running it (associate(), per-replicate values, its own permutations)
// on simulated studies with a known effect.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>

#include "cellscape/stats/power.hpp"
#include "cellscape/stats/statistics.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/random.hpp"

using namespace cellscape;
using Approx = Catch::Detail::Approx;

namespace {

// A 28-cell design stratified over the seven widths 1c ... 4c, 3 seeds each.
RankTestDesign stratified_design(double noise_ratio) {
    RankTestDesign design;
    for (int level = 0; level < 7; ++level)
        for (int copy = 0; copy < 4; ++copy) design.predictor.push_back(1.0 + 0.5 * level);
    design.seeds.assign(design.predictor.size(), 3);
    design.noise_ratio = noise_ratio;
    return design;
}

// The test's own model of a study, written from the model's statement in
// power.hpp: standardized predictor ranks s, cell means r s + sqrt(1 - r^2) u,
// each seed's value off by N(0, noise_ratio).
struct SimulatedStudies {
    std::vector<double> s;
    explicit SimulatedStudies(const std::vector<double>& predictor) : s(average_ranks(predictor)) {
        const double mean = std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(s.size());
        double squares = 0;
        for (double& v : s) v -= mean, squares += v * v;
        for (double& v : s) v /= std::sqrt(squares / static_cast<double>(s.size()));
    }
    std::vector<double> cell_means(double r, SeededRandom& random) const {
        std::vector<double> means;
        for (double signal : s) means.push_back(r * signal + std::sqrt(1 - r * r) * random.normal());
        return means;
    }
    // The expected Spearman rho of noise-free means at latent r (20000 draws).
    double effect(double r, const std::vector<double>& predictor) const {
        SeededRandom random(99);
        double total = 0;
        for (int i = 0; i < 20000; ++i) total += spearman(cell_means(r, random), predictor);
        return total / 20000;
    }
};

}  // namespace

TEST_CASE("variance components are the one-way random-effects ANOVA estimates") {
    // Cells {1,2,3}, {4,6}, {5}: means 2, 5, 5, grand mean 3.5.
    // SSB = 3(1.5^2) + 2(1.5^2) + 1.5^2 = 13.5, MSB = 6.75; SSW = 2 + 2 = 4,
    // MSW = 4 / 3; n0 = (6 - 14/6) / 2 = 11/6; between = (6.75 - 4/3) / (11/6).
    const VarianceComponents components = variance_components({{1, 2, 3}, {4, 6}, {5, NAN}, {NAN}});
    CHECK(components.cells == 3);
    CHECK(components.replicates == 6);
    CHECK(components.within == Approx(4.0 / 3.0).epsilon(1e-14));
    CHECK(components.between == Approx((6.75 - 4.0 / 3.0) / (11.0 / 6.0)).epsilon(1e-14));
    CHECK(components.noise_ratio() == Approx((4.0 / 3.0) / ((6.75 - 4.0 / 3.0) / (11.0 / 6.0))).epsilon(1e-14));
    // Cells no more different than their seeds: no between-cell variance.
    const VarianceComponents flat = variance_components({{1, 3}, {3, 1}});
    CHECK(flat.between == 0);
    CHECK(std::isinf(flat.noise_ratio()));
    // One seed per cell: no within-cell variance to estimate.
    CHECK(std::isnan(variance_components({{1}, {2}, {3}}).noise_ratio()));
}

TEST_CASE("seed effects shared by every cell leave the noise: the additive two-way ANOVA on a full table") {
    // 4 cells x 3 seeds, x = cell + seed effect + noise, the seed effects
    // (+30, -20, -10) far larger than the noise. Reference, by the two-way
    // additive ANOVA's formulas: residual SS = sum (x - row mean - column
    // mean + grand)^2 over (4 - 1)(3 - 1) = 6 degrees of freedom;
    // between = (MS_cells - MS_residual) / 3.
    const std::vector<double> cell = {1, 4, 2, 7}, seed = {30, -20, -10};
    const double noise[4][3] = {{0.5, -0.2, 0.1}, {-0.4, 0.3, 0.6}, {0.2, 0.1, -0.7}, {-0.3, 0.8, -0.1}};
    std::vector<std::vector<double>> values(4);
    std::vector<std::vector<int64_t>> seeds(4);
    for (int c = 0; c < 4; ++c)
        for (int s = 0; s < 3; ++s) {
            values[c].push_back(cell[c] + seed[s] + noise[c][s]);
            seeds[c].push_back(s + 1);
        }
    double grand = 0, row[4] = {}, column[3] = {};
    for (int c = 0; c < 4; ++c)
        for (int s = 0; s < 3; ++s) {
            grand += values[c][s] / 12;
            row[c] += values[c][s] / 3;
            column[s] += values[c][s] / 4;
        }
    double residual = 0, cells_squares = 0;
    for (int c = 0; c < 4; ++c) {
        cells_squares += 3 * (row[c] - grand) * (row[c] - grand);
        for (int s = 0; s < 3; ++s) residual += std::pow(values[c][s] - row[c] - column[s] + grand, 2);
    }
    const double within = residual / 6, between = (cells_squares / 3 - within) / 3;
    const VarianceComponents adjusted = variance_components(values, seeds);
    CHECK(adjusted.within == Approx(within).epsilon(1e-12));
    CHECK(adjusted.between == Approx(between).epsilon(1e-12));
    // The one-way ANOVA counts the seed effects as noise: a noise ratio
    // hundreds of times larger than the table's.
    CHECK(variance_components(values).noise_ratio() > 100 * adjusted.noise_ratio());
    // Seeds that no two cells share carry no effect to remove: the one-way answer.
    std::vector<std::vector<int64_t>> own_seeds = seeds;
    for (int c = 0; c < 4; ++c)
        for (auto& s : own_seeds[c]) s += 10 * c;
    const VarianceComponents unshared = variance_components(values, own_seeds);
    CHECK(unshared.within == Approx(variance_components(values).within).epsilon(1e-14));
    CHECK(unshared.between == Approx(variance_components(values).between).epsilon(1e-14));
    // A missing replicate (NaN) is left out with its seed.
    values[2][1] = NAN;
    const VarianceComponents missing = variance_components(values, seeds);
    CHECK(missing.replicates == 11);
    CHECK(std::isfinite(missing.within));
    CHECK_THROWS(variance_components(values, {{1, 2, 3}}));
}

TEST_CASE("a larger design keeps the pilot's proportions of predictor values") {
    // Shares of 6 cells: 1 -> 3.0, 2 -> 1.5, 3 -> 1.5; the half left goes to the smaller tied value.
    CHECK(scaled_predictor({1, 1, 2, 3}, 6) == std::vector<double>{1, 1, 1, 2, 2, 3});
    CHECK(scaled_predictor({2, 1}, 3) == std::vector<double>{1, 1, 2});
    CHECK(scaled_predictor({1, 2, 3}, 3) == std::vector<double>{1, 2, 3});
}

TEST_CASE("the planned power equals the rejection rate of the study's own test on simulated studies") {
    // Seeds as noisy as the cells' spread over 3 seeds (noise ratio 3):
    // the test sees the effect through cell means half signal, half noise.
    const RankTestDesign design = stratified_design(3.0);
    PowerOptions options;
    options.simulations = 4000;
    options.null_simulations = 8000;
    options.seed = 1;
    const PowerEstimate planned = rank_test_power(design, 0.5, options);
    CHECK(planned.rho == 0.5);
    REQUIRE(std::isfinite(planned.power));

    // The known effect: the latent r whose noise-free means have expected rho 0.5.
    const SimulatedStudies model(design.predictor);
    double low = 0, high = 0.99;
    for (int i = 0; i < 25; ++i) {
        const double middle = 0.5 * (low + high);
        (model.effect(middle, design.predictor) < 0.5 ? low : high) = middle;
    }
    const double r = 0.5 * (low + high);
    // 600 studies, each seed's value drawn, through associate()'s permutation test.
    SeededRandom random(2024);
    AssociationOptions test;
    test.bootstrap_samples = 0;
    test.permutations = 999;
    int rejected = 0;
    const int studies = 600;
    for (int study = 0; study < studies; ++study) {
        const std::vector<double> means = model.cell_means(r, random);
        std::vector<std::vector<double>> replicates;
        for (double mean : means) {
            replicates.emplace_back();
            for (int seed = 0; seed < 3; ++seed) replicates.back().push_back(mean + std::sqrt(3.0) * random.normal());
        }
        test.seed = static_cast<uint64_t>(study);
        rejected += associate(replicates, design.predictor, {}, test).p_value < 0.05;
    }
    const double simulated = static_cast<double>(rejected) / studies;
    // Standard errors: sqrt(p(1 - p) / 600) <= 0.020 here, sqrt(p(1 - p) / 4000)
    // <= 0.008 for the plan, and 999 permutations' p-values near 0.05 move
    // a few rejections: 0.07 is about 3 combined standard errors.
    INFO("planned " << planned.power << ", simulated " << simulated);
    CHECK(std::abs(planned.power - simulated) < 0.07);
    // Not trivially true: the same design with noiseless seeds has far more power.
    RankTestDesign noiseless = design;
    noiseless.noise_ratio = 0;
    CHECK(rank_test_power(noiseless, 0.5, options).power > simulated + 0.15);
}

TEST_CASE("the minimum detectable rho is where the power reaches the target") {
    const RankTestDesign design = stratified_design(1.0);
    PowerOptions options;
    options.simulations = 3000;
    options.seed = 5;
    const double detectable = minimum_detectable_rho(design, 0.8, options);
    REQUIRE(std::isfinite(detectable));
    // Spearman's test over 28 nearly noiseless cells needs |rho| about 0.5
    // (Fisher's z: (1.96 + 0.84) / sqrt(25) = 0.56 = atanh(0.51)); seed
    // noise and tied widths only raise it.
    CHECK(detectable > 0.45);
    CHECK(detectable < 0.75);
    CHECK(rank_test_power(design, detectable, options).power == Approx(0.8).margin(0.03));
    // More seeds per cell, less noise in the means: smaller effects detectable.
    RankTestDesign more_seeds = design;
    more_seeds.seeds.assign(design.seeds.size(), 10);
    CHECK(minimum_detectable_rho(more_seeds, 0.8, options) < detectable - 0.02);
    // Seeds far noisier than the cells' spread: nothing detectable with 80% power.
    RankTestDesign hopeless = design;
    hopeless.noise_ratio = 1e4;
    CHECK(std::isnan(minimum_detectable_rho(hopeless, 0.8, options)));
}

TEST_CASE("a design's mistakes are setting errors") {
    RankTestDesign design = stratified_design(1.0);
    design.seeds.pop_back();
    CHECK_THROWS_AS(rank_test_power(design, 0.3, {}), SettingError);
    design = stratified_design(-1.0);
    CHECK_THROWS_AS(rank_test_power(design, 0.3, {}), SettingError);
    CHECK_THROWS_AS(minimum_detectable_rho(stratified_design(1.0), 0.01, {}), SettingError);
}

TEST_CASE("the noise ratio's interval: cells apart from seeds that agree exactly have none") {
    // Every seed of a cell equal, the cells different: within 0, noise ratio 0, interval [0, 0].
    const VarianceComponents exact = variance_components({{1, 1}, {2, 2}, {4, 4}});
    CHECK(exact.within == 0);
    CHECK(exact.noise_ratio() == 0);
    CHECK(exact.noise_ratio_interval() == std::pair<double, double>{0.0, 0.0});
    // Cells no more different than their seeds: the interval reaches infinity.
    const VarianceComponents flat = variance_components({{1, 3}, {3, 1}, {2, 2.5}});
    CHECK(std::isinf(flat.noise_ratio_interval().second));
}
