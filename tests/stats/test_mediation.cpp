// The rank mediation estimate (stats/mediation.hpp) on simulated studies
// whose population values are known in closed form: for jointly Gaussian
// variables the rank correlation is (6 / pi) asin(rho / 2) (Pearson 1907),
// so the estimator's target a b follows from the model's Pearson
// correlations without running the estimator's code.
#include <catch2/catch.hpp>

#include <cmath>

#include "cellscape/stats/mediation.hpp"
#include "cellscape/util/random.hpp"

using namespace cellscape;

namespace {

// Cells: X ~ N(0, 1); M = alpha X + U; Y = beta M + gamma X + V (U, V
// standard normal); each of `seeds` replicates observes M and Y with
// independent N(0, noise^2) errors.
struct Model {
    double alpha, beta, gamma, noise;
    int seeds;

    std::vector<MediationCell> draw(int cells, uint64_t seed) const {
        SeededRandom random(seed);
        std::vector<MediationCell> result;
        for (int c = 0; c < cells; ++c) {
            MediationCell cell;
            cell.predictor = random.normal();
            const double m = alpha * cell.predictor + random.normal();
            const double y = beta * m + gamma * cell.predictor + random.normal();
            for (int k = 0; k < seeds; ++k) {
                cell.mediator.push_back(m + noise * random.normal());
                cell.outcome.push_back(y + noise * random.normal());
            }
            result.push_back(cell);
        }
        return result;
    }

    // The indirect association the estimator targets: a b from the rank
    // correlations of X and the cells' means of M and Y.
    double target_indirect() const {
        const double mean_noise = noise * noise / seeds;
        const double var_m_true = alpha * alpha + 1;  // M without the seeds' noise
        const double var_m = var_m_true + mean_noise;
        const double cov_xy = beta * alpha + gamma;
        const double cov_my = beta * var_m_true + gamma * alpha;
        const double var_y = beta * beta * var_m_true + gamma * gamma + 2 * beta * gamma * alpha + 1 + mean_noise;
        auto ranks = [](double pearson) { return 6 / M_PI * std::asin(pearson / 2); };
        const double xm = ranks(alpha / std::sqrt(var_m)), xy = ranks(cov_xy / std::sqrt(var_y)),
                     my = ranks(cov_my / std::sqrt(var_m * var_y));
        return xm * (my - xy * xm) / (1 - xm * xm);
    }
};

AssociationOptions bootstrap(uint64_t seed) {
    AssociationOptions options;
    options.bootstrap_samples = 2000;
    options.seed = seed;
    return options;
}

}  // namespace

TEST_CASE("mediation recovers a known indirect effect with an interval that excludes 0") {
    // Full mediation: X acts on Y only through M.
    const Model model{1.0, 1.0, 0.0, 1.0, 3};
    const double target = model.target_indirect();  // 0.39
    const Mediation estimate = mediate(model.draw(400, 11), bootstrap(1));
    CHECK(estimate.cells == 400);
    // The estimate's sampling standard deviation over 400 cells is about
    // 0.03 (its bootstrap interval is about +-0.06): 0.08 is over 2.5 of them.
    INFO("target " << target << ", estimate " << estimate.indirect);
    CHECK(std::abs(estimate.indirect - target) < 0.08);
    CHECK(estimate.low < target);
    CHECK(estimate.high > target);
    CHECK(estimate.low > 0.2);
    // The decomposition is exact: total = direct + indirect.
    CHECK(estimate.total == Approx(estimate.direct + estimate.indirect).margin(1e-12));
    CHECK(estimate.proportion > 0.5);  // 0.73 in the population: the direct path is only the seeds' noise
}

TEST_CASE("mediation reports none where the mediator is unrelated to the outcome or the predictor") {
    // M follows X but Y does not follow M: X acts on Y directly.
    const Model direct_only{1.0, 0.0, 1.0, 1.0, 3};
    const Mediation direct = mediate(direct_only.draw(400, 12), bootstrap(2));
    INFO("target " << direct_only.target_indirect() << ", estimate " << direct.indirect);
    CHECK(std::abs(direct.indirect - direct_only.target_indirect()) < 0.08);
    CHECK(direct.low < 0);
    CHECK(direct.high > 0);
    // M unrelated to X: nothing to carry.
    const Model unrelated{0.0, 1.0, 1.0, 1.0, 3};
    CHECK(unrelated.target_indirect() == 0);
    const Mediation none = mediate(unrelated.draw(400, 13), bootstrap(3));
    CHECK(std::abs(none.indirect) < 0.05);
    CHECK(none.low < 0);
    CHECK(none.high > 0);
}

TEST_CASE("the proportion mediated has an interval only where the total's excludes 0") {
    // Full mediation over 400 cells: the total is far from 0, so the
    // proportion a b / c gets the bootstrap's interval, which holds the
    // estimate and lies inside (0, 1.5) (the population value is 0.73).
    const Model full{1.0, 1.0, 0.0, 1.0, 3};
    const Mediation mediated = mediate(full.draw(400, 21), bootstrap(5));
    CHECK(mediated.total_low > 0);
    CHECK(mediated.proportion_low < mediated.proportion);
    CHECK(mediated.proportion < mediated.proportion_high);
    CHECK(mediated.proportion_low > 0);
    CHECK(mediated.proportion_high < 1.5);
    CHECK(mediated.dropped == 0);
    // X unrelated to Y (no total association): a ratio over a total that may
    // be 0 gets no interval, though the estimate is printed.
    const Model none{0.0, 1.0, 0.0, 1.0, 3};
    const Mediation unrelated = mediate(none.draw(400, 22), bootstrap(6));
    CHECK(unrelated.total_low < 0);
    CHECK(unrelated.total_high > 0);
    CHECK(std::isnan(unrelated.proportion_low));
    CHECK(std::isnan(unrelated.proportion_high));
}

TEST_CASE("mediation needs four cells and leaves out incomplete replicates") {
    std::vector<MediationCell> cells{{1, {1, NAN}, {3, 4}}, {2, {2}, {2}}, {3, {3}, {1}}};
    const Mediation few = mediate(cells, bootstrap(4));
    CHECK(few.cells == 3);
    CHECK(std::isnan(few.indirect));
    cells.push_back({4, {NAN}, {1}});  // no complete replicate: not a cell
    CHECK(mediate(cells, bootstrap(4)).cells == 3);
}

namespace {

// A study's design as the mediation table sees it: `cells` cells whose
// predictor takes 7 stratified levels (the studies' widths 1c ... 4c, ties
// included), M = alpha X + U and Y = beta M + gamma X + V per cell, each of
// 2 seeds off by N(0, noise^2) in M and Y.
std::vector<MediationCell> stratified_study(int cells, double alpha, double beta, double gamma, double noise,
                                            SeededRandom& random) {
    std::vector<MediationCell> result;
    for (int c = 0; c < cells; ++c) {
        MediationCell cell;
        cell.predictor = (c % 7 - 3) / 2.0;  // variance 1 over a full cycle of levels
        const double m = alpha * cell.predictor + random.normal();
        const double y = beta * m + gamma * cell.predictor + random.normal();
        for (int k = 0; k < 2; ++k) {
            cell.mediator.push_back(m + noise * random.normal());
            cell.outcome.push_back(y + noise * random.normal());
        }
        result.push_back(cell);
    }
    return result;
}

// The estimator's population value for the stratified design: a b of one
// very large study (20000 cells; its sampling error is about 0.005).
double population_indirect(double alpha, double beta, double gamma, double noise) {
    SeededRandom random(2024);
    return mediate(stratified_study(20000, alpha, beta, gamma, noise, random), AssociationOptions{}, 1 << 30).indirect;
}

struct Calibration {
    double beyond_one = 0, dropped_over_5 = 0, mean_dropped = 0, covered = 0, rejected = 0;
};

// `studies` simulated studies of `cells` cells: how often the interval
// reaches beyond +-1, how often more than 5% of resamples are dropped, how
// often the interval holds `target`, and how often the joint test rejects at 0.05.
Calibration calibrate(int cells, double alpha, double beta, double gamma, double noise, double target, int studies,
                      uint64_t seed) {
    SeededRandom random(seed);
    AssociationOptions options;
    options.bootstrap_samples = 1000;
    options.permutations = 1000;
    Calibration result;
    for (int s = 0; s < studies; ++s) {
        options.seed = seed * 1000003 + static_cast<uint64_t>(s);
        const Mediation m = mediate(stratified_study(cells, alpha, beta, gamma, noise, random), options, 4);
        result.beyond_one += (m.low < -1 || m.high > 1);
        result.dropped_over_5 += !(m.dropped <= 0.05);
        result.mean_dropped += std::isfinite(m.dropped) ? m.dropped : 1.0;
        result.covered += (m.low <= target && target <= m.high);
        result.rejected += (m.p_value < 0.05);
    }
    for (double* share : {&result.beyond_one, &result.dropped_over_5, &result.mean_dropped, &result.covered,
                          &result.rejected})
        *share /= studies;
    return result;
}

}  // namespace

// Prints the simulation behind minimum_mediation_cells (docs/science.md,
// "Mediation"); run by hand: test_cells "[.calibration]".
TEST_CASE("mediation calibration: the design's behaviour by number of cells", "[.calibration]") {
    struct Scenario {
        const char* name;
        double alpha, beta, gamma;
    };
    const Scenario scenarios[] = {{"partial mediation", 0.9, 0.5, 0.3}, {"a = 0 (null)", 0.0, 0.6, 0.5},
                                  {"b = 0 (null)", 0.8, 0.0, 0.6}, {"strong a (|a| ~ 0.9)", 2.5, 0.5, 0.2}};
    std::printf("%-22s %5s %8s %8s %8s %8s %8s %8s\n", "scenario", "cells", "target", ">+-1", ">5%drop", "dropped",
                "covered", "rejects");
    for (const Scenario& scenario : scenarios) {
        const double target = population_indirect(scenario.alpha, scenario.beta, scenario.gamma, 1.0);
        for (int cells : {5, 6, 8, 10, 12, 15, 20, 30, 50}) {
            const Calibration c =
                calibrate(cells, scenario.alpha, scenario.beta, scenario.gamma, 1.0, target, 400, 7 + cells);
            std::printf("%-22s %5d %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", scenario.name, cells, target, c.beyond_one,
                        c.dropped_over_5, c.mean_dropped, c.covered, c.rejected);
        }
    }
}
