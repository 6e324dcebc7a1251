// The study's methods on simulated studies with a planted null and a
// planted effect: type-I error and coverage of the rank test and its
// bootstrap interval, the family-wise error under Holm, the rank test with
// censored convergence times, the equivalence test on the noise-free scale,
// the mediation's joint test and interval, and the power at Holm's first
// step. Sized for CTest (a few seconds each); every tolerance is a stated
// number of Monte-Carlo standard errors of the rate it bounds.
#include <catch2/catch.hpp>

#include <cmath>
#include <algorithm>
#include <functional>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "cellscape/stats/mediation.hpp"
#include "cellscape/stats/power.hpp"
#include "cellscape/stats/statistics.hpp"
#include "cellscape/study/study_tables.hpp"
#include "cellscape/util/random.hpp"

using namespace cellscape;

namespace {

// Predictor values stratified over the studies' seven widths 1c ... 4c.
std::vector<double> stratified_widths(int cells) {
    std::vector<double> width;
    for (int c = 0; c < cells; ++c) width.push_back(1 + 0.5 * (c % 7));
    return width;
}

// Standardized ranks of the predictor (mean 0, variance 1): power.hpp's s.
std::vector<double> standardized_ranks(const std::vector<double>& predictor) {
    std::vector<double> s = average_ranks(predictor);
    const double mean = std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(s.size());
    double squares = 0;
    for (double& v : s) v -= mean, squares += v * v;
    for (double& v : s) v /= std::sqrt(squares / static_cast<double>(s.size()));
    return s;
}

// One simulated study by power.hpp's model: noise-free means r s + sqrt(1 -
// r^2) u, each of `seeds` replicates off by sqrt(noise_ratio) e.
std::vector<std::vector<double>> simulated_study(const std::vector<double>& s, double r, int seeds, double noise_ratio,
                                                 SeededRandom& random) {
    std::vector<std::vector<double>> replicates;
    for (double signal : s) {
        const double mean = r * signal + std::sqrt(1 - r * r) * random.normal();
        replicates.emplace_back();
        for (int k = 0; k < seeds; ++k) replicates.back().push_back(mean + std::sqrt(noise_ratio) * random.normal());
    }
    return replicates;
}

// The latent r whose noise-free means have expected Spearman rho `rho` with the predictor.
double latent_for(const std::vector<double>& predictor, double rho) {
    RankTestDesign design;
    design.predictor = predictor;
    design.seeds.assign(predictor.size(), 1);
    PowerOptions options;
    options.simulations = 2000;
    return latent_correlation(design, rho, options);
}

// Rows of a study for associate_with_predictors: one population, depth
// constant (so only the width rows are tested), the given metrics.
std::vector<StudyRow> study_rows(const std::vector<double>& width, const std::vector<double StudyRow::*>& fields,
                                 const std::vector<std::vector<std::vector<double>>>& values) {
    std::vector<StudyRow> rows;
    for (std::size_t c = 0; c < width.size(); ++c)
        for (std::size_t k = 0; k < values.front()[c].size(); ++k) {
            StudyRow row;
            row.cell = "cell-" + std::to_string(c);
            row.directory = row.cell + "/seed-" + std::to_string(k + 1);
            row.population = "normal-connections", row.status = "ok";
            row.seed = static_cast<int64_t>(k + 1), row.epoch = 1, row.normal_width = width[c], row.normal_depth = 3;
            for (std::size_t f = 0; f < fields.size(); ++f) row.*fields[f] = values[f][c][k];
            rows.push_back(row);
        }
    return rows;
}

// A share's binomial standard error over n simulated studies.
double standard_error(double p, int n) { return std::sqrt(p * (1 - p) / n); }

}  // namespace

TEST_CASE("under a planted null the rank test rejects at its level, and under an effect its interval covers") {
    const std::vector<double> width = stratified_widths(15);
    const std::vector<double> s = standardized_ranks(width);
    SeededRandom random(31);
    AssociationOptions options;
    options.bootstrap_samples = 400, options.permutations = 400;
    const int studies = 400;
    int rejected = 0;
    for (int i = 0; i < studies; ++i) {
        options.seed = static_cast<uint64_t>(i);
        rejected += associate(simulated_study(s, 0.0, 2, 1.0, random), width, {}, options).p_value < 0.05;
    }
    // The permutation test is exact in level up to its sampling: 0.05, SE 0.011 over 400 studies; 3 SE either side.
    const double level = static_cast<double>(rejected) / studies;
    INFO("rejection rate under the null " << level);
    CHECK(std::abs(level - 0.05) < 3 * standard_error(0.05, studies));

    // Effect: noise-free rho 0.5, noise ratio 1 over 2 seeds. The interval's
    // target is the rank correlation of the seed-averaged means (the
    // attenuated rho), taken from one study of 20000 cells (error ~0.005).
    const double r = latent_for(width, 0.5);
    const std::vector<double> big_width = stratified_widths(20000);
    const Association population =
        association_estimate(simulated_study(standardized_ranks(big_width), r, 2, 1.0, random), big_width, {});
    const std::vector<double> wide = stratified_widths(40);
    const std::vector<double> s40 = standardized_ranks(wide);
    int covered = 0;
    const int effect_studies = 300;
    for (int i = 0; i < effect_studies; ++i) {
        options.seed = 1000 + static_cast<uint64_t>(i);
        const Association a = associate(simulated_study(s40, r, 2, 1.0, random), wide, {}, options);
        covered += a.low <= population.rho && population.rho <= a.high;
    }
    // Nominal 0.95; percentile intervals of 40 cells undercover a little.
    // 0.90 is 3.5 SE (0.013 over 300 studies) below nominal.
    const double coverage = static_cast<double>(covered) / effect_studies;
    INFO("target " << population.rho << ", coverage " << coverage);
    CHECK(coverage > 0.90);
}

TEST_CASE("Holm keeps the family-wise error of a table of null metrics at alpha") {
    // Five metrics with no association with width, 10 cells x 2 seeds: a
    // study's table; any row with p_holm < alpha is a family-wise error.
    const std::vector<double> width = stratified_widths(10);
    const std::vector<double> s = standardized_ranks(width);
    const std::vector<double StudyRow::*> fields{&StudyRow::train_loss, &StudyRow::train_accuracy,
                                                 &StudyRow::epochs_to_threshold, &StudyRow::trace,
                                                 &StudyRow::gradient_variance};
    SeededRandom random(32);
    StudyStatistics statistics;
    statistics.bootstrap_samples = 100, statistics.permutations = 100, statistics.power_simulations = 100;
    const int studies = 150;
    int any_rejected = 0, unadjusted_any = 0;
    for (int i = 0; i < studies; ++i) {
        std::vector<std::vector<std::vector<double>>> values;
        for (std::size_t f = 0; f < fields.size(); ++f) values.push_back(simulated_study(s, 0.0, 2, 1.0, random));
        statistics.seed = static_cast<uint64_t>(i);
        bool rejected = false, unadjusted = false;
        for (const StudyAssociationRow& row : associate_with_predictors(study_rows(width, fields, values), statistics)) {
            rejected = rejected || row.p_holm < statistics.alpha;  // any rejection, whatever the interval says
            unadjusted = unadjusted || (row.duplicate_of.empty() && row.association.p_value < statistics.alpha);
            // The partial rows (depth constant) repeat the plain ones: one family of 5.
            if (std::isfinite(row.association.p_value)) CHECK(row.family_size == 5);
        }
        any_rejected += rejected;
        unadjusted_any += unadjusted;
    }
    const double family_wise = static_cast<double>(any_rejected) / studies;
    INFO("family-wise error " << family_wise << ", unadjusted " << static_cast<double>(unadjusted_any) / studies);
    // At most alpha = 0.05; 3 SE (0.018 each over 150 studies) of slack.
    CHECK(family_wise < 0.05 + 3 * standard_error(0.05, studies));
    // Not a test that cannot fail: unadjusted, 5 null tests reject far more often (1 - 0.95^5 = 0.23).
    CHECK(static_cast<double>(unadjusted_any) / studies > 0.12);
}

TEST_CASE("the rank test of censored convergence times keeps its level and ignores the placeholder") {
    // Convergence times exponential with a 0.4 chance of not converging by
    // the horizon (censored), independent of width: under the null the test
    // of Gehan scores rejects at 0.05.
    const std::vector<double> width = stratified_widths(14);
    const auto& metrics = study_metrics();
    const StudyMetric& convergence = *std::find_if(
        metrics.begin(), metrics.end(), [](const StudyMetric& m) { return std::string(m.name) == "epochs_to_threshold"; });
    SeededRandom random(33);
    AssociationOptions options;
    options.bootstrap_samples = 0, options.permutations = 400;
    const int studies = 400;
    int rejected = 0, placeholder_moves = 0;
    for (int i = 0; i < studies; ++i) {
        std::vector<StudyRow> rows;
        for (std::size_t c = 0; c < width.size(); ++c)
            for (int k = 0; k < 2; ++k) {
                StudyRow row;
                row.status = "ok", row.seed = k + 1;
                const double time = -2.0 * std::log(1 - random.uniform());  // mean 2; P(time > 1.02 x 2) ~ 0.36
                row.censored = time > 2.04;
                row.epochs_to_threshold = row.censored ? 2.04 + 0.01 : time;
                rows.push_back(row);
            }
        std::vector<std::vector<const StudyRow*>> cells(width.size());
        for (std::size_t j = 0; j < rows.size(); ++j) cells[j / 2].push_back(&rows[j]);
        options.seed = static_cast<uint64_t>(i);
        const Association a = associate(rank_test_values(cells, convergence).values, width, {}, options);
        rejected += a.p_value < 0.05;
        // Another placeholder, far later: the same rho.
        for (StudyRow& row : rows)
            if (row.censored) row.epochs_to_threshold = 50;
        placeholder_moves += association_estimate(rank_test_values(cells, convergence).values, width, {}).rho != a.rho;
    }
    const double level = static_cast<double>(rejected) / studies;
    INFO("rejection rate under the null " << level);
    CHECK(std::abs(level - 0.05) < 3 * standard_error(0.05, studies));
    CHECK(placeholder_moves == 0);
}

TEST_CASE("equivalence on the noise-free scale: seeds' noise no longer makes a real effect 'equivalent'") {
    // The reviewer's case: seeds 25 times noisier than the cells' spread
    // (the evidence study's trace), 3 seeds per cell, 150 cells, and a
    // noise-free rho at the equivalence bound, 0.2, where "equivalent" must
    // be rare (at most 5%: 2.5% for the noise ratio's upper bound, 2.5% for
    // each one-sided test). The seed-averaged means see a rho of about 0.066,
    // so the interval of the observed rho (about +-0.16) lies inside +-0.2
    // far more often: that rule called real effects equivalent.
    const std::vector<double> width = stratified_widths(150), wide = stratified_widths(400);
    const double r = latent_for(width, 0.2);
    SeededRandom random(34);
    AssociationOptions options;
    options.bootstrap_samples = 400, options.permutations = 100;
    PowerOptions power;
    power.simulations = 100;
    auto equivalent_share = [&](const std::vector<double>& width, double latent, double noise_ratio, int studies,
                                double& naive_share) {
        const std::vector<double> s = standardized_ranks(width);
        int equivalent = 0, naive = 0;
        for (int i = 0; i < studies; ++i) {
            const auto replicates = simulated_study(s, latent, 3, noise_ratio, random);
            options.seed = static_cast<uint64_t>(i);
            const Association a = associate(replicates, width, {}, options);
            std::vector<std::vector<int64_t>> seeds(replicates.size(), {1, 2, 3});
            const VarianceComponents components = variance_components(replicates, seeds);
            RankTestDesign design;
            design.predictor = width;
            design.seeds.assign(width.size(), 3);
            design.noise_ratio = components.noise_ratio_interval().second;
            power.seed = static_cast<uint64_t>(i);
            equivalent += equivalence_test(a, attenuated_rho(design, 0.2, power)) == "equivalent";
            naive += equivalence_outcome(a.low, a.high, 0.2) == "equivalent";
        }
        naive_share = static_cast<double>(naive) / studies;
        return static_cast<double>(equivalent) / studies;
    };
    double naive = 0;
    const int studies = 80;
    const double at_bound = equivalent_share(width, r, 25.0, studies, naive);
    INFO("noise-free rho 0.2, noise ratio 25: equivalent " << at_bound << ", by the observed-scale rule " << naive);
    // 0.05 + 2 SE (0.024 over 80 studies); the old rule's share is far above.
    CHECK(at_bound <= 0.05 + 2 * standard_error(0.05, studies));
    CHECK(naive > 0.2);
    // There the noise ratio's upper bound is mostly infinite ("seeds too
    // noisy"). With seeds 3 times noisier than the cells and 400 cells it is
    // finite, and what keeps the error down is the attenuation of the bound:
    // a noise-free 0.2 shows as about 0.14, whose interval (about +-0.1)
    // often lies inside +-0.2, but rarely inside the attenuated bound.
    const double attenuated = equivalent_share(wide, latent_for(wide, 0.2), 3.0, studies, naive);
    INFO("noise-free rho 0.2, noise ratio 3: equivalent " << attenuated << ", by the observed-scale rule " << naive);
    CHECK(attenuated <= 0.05 + 2 * standard_error(0.05, studies));
    CHECK(naive > 0.1);
    // Not "never equivalent": no effect, seeds 4 times quieter than cells,
    // 400 cells: the interval of about +-0.1 fits inside the bound
    // attenuated to about 0.19 most of the time.
    const double no_effect = equivalent_share(wide, 0.0, 0.25, studies, naive);
    INFO("no effect, noise ratio 0.25: equivalent " << no_effect);
    CHECK(no_effect > 0.5);
}

TEST_CASE("the mediation's joint test keeps its level when either path is 0, and its interval covers") {
    // Cells: X stratified, M = alpha X + U, Y = beta M + gamma X + V, 2 seeds
    // each off by N(0, 1) in M and Y (as mediation.hpp's calibration).
    auto study = [](int cells, double alpha, double beta, double gamma, SeededRandom& random) {
        std::vector<MediationCell> result;
        for (int c = 0; c < cells; ++c) {
            MediationCell cell;
            cell.predictor = (c % 7 - 3) / 2.0;
            const double m = alpha * cell.predictor + random.normal();
            const double y = beta * m + gamma * cell.predictor + random.normal();
            for (int k = 0; k < 2; ++k) {
                cell.mediator.push_back(m + random.normal());
                cell.outcome.push_back(y + random.normal());
            }
            result.push_back(cell);
        }
        return result;
    };
    SeededRandom random(35);
    AssociationOptions options;
    options.bootstrap_samples = 300, options.permutations = 300;
    const int studies = 300;
    for (const auto& [alpha, beta, gamma] : {std::tuple{0.0, 0.6, 0.5}, std::tuple{0.8, 0.0, 0.6}}) {
        int rejected = 0;
        for (int i = 0; i < studies; ++i) {
            options.seed = static_cast<uint64_t>(i);
            rejected += mediate(study(20, alpha, beta, gamma, random), options).p_value < 0.05;
        }
        // At most 0.05 (the joint test is conservative when one path is 0); 3 SE (0.013) of slack.
        const double level = static_cast<double>(rejected) / studies;
        INFO("alpha " << alpha << ", beta " << beta << ": rejection rate " << level);
        CHECK(level < 0.05 + 3 * standard_error(0.05, studies));
    }
    // Coverage of the population a b (one study of 20000 cells) at 40 cells.
    const double target = mediate(study(20000, 0.9, 0.5, 0.3, random), AssociationOptions{}, 1 << 30).indirect;
    int covered = 0, rejected = 0;
    for (int i = 0; i < studies; ++i) {
        options.seed = 5000 + static_cast<uint64_t>(i);
        const Mediation m = mediate(study(40, 0.9, 0.5, 0.3, random), options);
        covered += m.low <= target && target <= m.high;
        rejected += m.p_value < 0.05;
    }
    const double coverage = static_cast<double>(covered) / studies;
    INFO("target " << target << ": coverage " << coverage << ", power " << static_cast<double>(rejected) / studies);
    // Nominal 0.95; 0.90 is 3.8 SE (0.013) below it.
    CHECK(coverage > 0.90);
    CHECK(rejected > 0.2 * studies);  // and an effect of about 0.19 is detected at times
}

TEST_CASE("the power at Holm's first step is the rejection rate of the study's own test at that level") {
    // 28 cells x 3 seeds, noise ratio 1, a family of m = 10: level 0.005.
    const std::vector<double> width = stratified_widths(28);
    const std::vector<double> s = standardized_ranks(width);
    RankTestDesign design;
    design.predictor = width;
    design.seeds.assign(width.size(), 3);
    design.noise_ratio = 1.0;
    PowerOptions options;
    options.alpha = 0.005;
    options.simulations = 2000;
    options.seed = 2;
    const PowerEstimate planned = rank_test_power(design, 0.6, options);
    REQUIRE(std::isfinite(planned.power));
    const double r = latent_for(width, 0.6);
    SeededRandom random(36);
    AssociationOptions test;
    test.bootstrap_samples = 0;
    test.permutations = 4000;  // 20 / 0.005
    int rejected = 0;
    const int studies = 300;
    for (int i = 0; i < studies; ++i) {
        test.seed = static_cast<uint64_t>(i);
        rejected += associate(simulated_study(s, r, 3, 1.0, random), width, {}, test).p_value < 0.005;
    }
    const double simulated = static_cast<double>(rejected) / studies;
    INFO("planned " << planned.power << ", simulated " << simulated);
    // SE about 0.029 over 300 studies, 0.011 for the plan: 0.09 is 3 combined SE.
    CHECK(std::abs(planned.power - simulated) < 0.09);
    // The same effect at the unadjusted level has clearly more power.
    options.alpha = 0.05;
    CHECK(rank_test_power(design, 0.6, options).power > simulated + 0.1);
}
