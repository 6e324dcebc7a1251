// The statistics behind a study's intervals and verdicts, against values
// computed independently (scipy 1.x: stats.t.ppf, stats.spearmanr; by hand
// for the partial correlation and the exact permutation distribution).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "cellscape/stats/statistics.hpp"
#include "cellscape/study/study_tables.hpp"

using namespace cellscape;
using Approx = Catch::Detail::Approx;

TEST_CASE("Student-t quantiles equal scipy's to 1e-10 relative") {
    // scipy.stats.t.ppf(0.975, dof); bisection stops at 1e-14 of the value.
    const std::pair<double, double> cases[] = {{1, 12.706204736174694}, {2, 4.302652729749462},
                                               {4, 2.7764451051977934}, {10, 2.228138851986274},
                                               {30, 2.0422724563012378}};
    for (const auto& [dof, expected] : cases) {
        CHECK(student_t_quantile(0.975, dof) == Approx(expected).epsilon(1e-10));
        CHECK(student_t_quantile(0.025, dof) == Approx(-expected).epsilon(1e-10));
    }
}

TEST_CASE("a mean's interval is the Student-t interval over the finite values") {
    // [1, 2, 4]: mean 7/3, sample std 1.5275252316519465, t(0.975, 2) = 4.302652729749462.
    const MeanInterval interval = mean_interval({1.0, NAN, 2.0, 4.0});
    CHECK(interval.n == 3);
    CHECK(interval.mean == Approx(7.0 / 3.0).epsilon(1e-14));
    CHECK(interval.std == Approx(1.5275252316519465).epsilon(1e-14));
    CHECK(interval.low == Approx(-1.461249700263426).epsilon(1e-10));
    CHECK(interval.high == Approx(6.1279163669300925).epsilon(1e-10));
    const MeanInterval one = mean_interval({5.0});
    CHECK(one.n == 1);
    CHECK(one.mean == 5.0);
    CHECK(std::isnan(one.low));
    CHECK(std::isnan(mean_interval({NAN}).mean));
}

TEST_CASE("Spearman's rho uses average ranks for ties") {
    CHECK(average_ranks({5, 6, 7, 8, 7}) == std::vector<double>{1, 2, 3.5, 5, 3.5});
    // scipy.stats.spearmanr([1,2,3,4,5], [5,6,7,8,7]).statistic
    CHECK(spearman({1, 2, 3, 4, 5}, {5, 6, 7, 8, 7}) == Approx(0.8207826816681233).epsilon(1e-12));
    CHECK(spearman({1, 2, 3, 4, 5, 6}, {2, 1, 4, 3, 6, 5}) == Approx(0.8285714285714287).epsilon(1e-12));
    CHECK(spearman({1, 2, 3}, {-4, -5, -6}) == Approx(-1.0));
    CHECK(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));  // a constant side has no ranks to correlate
    CHECK(std::isnan(spearman({1, 2}, {1, 2})));
}

TEST_CASE("the partial rank correlation removes what the control explains") {
    // y follows z exactly and x is z's ranks with noise: holding z fixed,
    // x says nothing more about y... by the formula
    // (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2)) with r_yz = 1 the
    // denominator vanishes: NaN, not a number pretending to be evidence.
    const std::vector<double> z{1, 2, 3, 4, 5, 6}, x{2, 1, 4, 3, 6, 5};
    CHECK(std::isnan(partial_spearman(x, z, z)));
    // Hand case: ranks x = (1,2,3,4,5), y = (2,1,4,3,5), z = (1,3,2,5,4):
    // 1 - 6 sum d^2 / (n (n^2 - 1)) gives r_xy = 0.8, r_xz = 0.8, r_yz = 0.3,
    // so (0.8 - 0.24) / sqrt(0.36 * 0.91).
    CHECK(partial_spearman({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}, {1, 3, 2, 5, 4}) ==
          Approx(0.56 / std::sqrt(0.36 * 0.91)).epsilon(1e-12));
}

TEST_CASE("associations: exact permutation p-value, bootstrap interval, cells without values dropped") {
    // Five cells whose metric falls strictly with the predictor: rho = -1.
    // Exactly 2 of the 5! = 120 orderings reach |rho| = 1, so the exact
    // p-value is 1/60; 20000 permutations estimate it with standard error
    // sqrt(p(1-p)/20000) = 9e-4: 5 standard errors allowed.
    std::vector<std::vector<double>> replicates{{5.0, 5.0}, {4.0, 4.0}, {3.0, 3.0}, {2.0, 2.0}, {1.0, 1.0}, {NAN}};
    const std::vector<double> width{1, 2, 3, 4, 5, 6};
    AssociationOptions options;
    options.permutations = 20000;
    options.seed = 7;
    const Association result = associate(replicates, width, {}, options);
    CHECK(result.cells == 5);
    CHECK(result.rho == Approx(-1.0));
    CHECK(std::abs(result.p_value - 1.0 / 60.0) < 5 * 9e-4);
    // Every resample keeps the means in the predictor's order (a cell drawn
    // twice is tied on both sides): the interval is the point.
    CHECK(result.low == Approx(-1.0));
    CHECK(result.high == Approx(-1.0));

    // Too few cells: nothing to say.
    const Association few = associate({{1}, {2}}, {1, 2}, {}, options);
    CHECK(few.cells == 2);
    CHECK(std::isnan(few.rho));
    CHECK(std::isnan(few.p_value));
}

TEST_CASE("the bootstrap resamples cells with their means: its interval is the exact bootstrap's percentiles") {
    // Six cells: all 6^6 = 46656 resamples, equally likely, enumerated here
    // with the percentile rule numpy uses (linear between order statistics);
    // resamples with a constant side (undefined rho) are left out, as the
    // study leaves them out. Their 1.5%, 2.5%, 3.5% quantiles are -0.6,
    // -0.5, -0.33 (numpy), so a wrong level is seen.
    const std::vector<double> means{3, 1, 5, 2, 4, 6}, width{1, 2, 3, 4, 5, 6};
    std::vector<double> exact;
    for (int code = 0; code < 46656; ++code) {
        std::vector<double> m, w;
        for (int k = 0, rest = code; k < 6; ++k, rest /= 6) {
            m.push_back(means[rest % 6]);
            w.push_back(width[rest % 6]);
        }
        const double rho = spearman(m, w);
        if (std::isfinite(rho)) exact.push_back(rho);
    }
    std::sort(exact.begin(), exact.end());
    CHECK(exact.size() == 46650);
    // The seeds' spread does not enter: only the cells' means are resampled.
    const std::vector<std::vector<double>> tight{{3.0}, {1.0}, {5.0}, {2.0}, {4.0}, {6.0}};
    const std::vector<std::vector<double>> spread{{2.0, 4.0}, {-5.0, 7.0}, {5.0, 5.0}, {0.0, 4.0}, {4.0}, {9.0, 3.0}};
    AssociationOptions options;
    options.bootstrap_samples = 40000;
    options.permutations = 100;
    options.seed = 11;
    const Association a = associate(tight, width, {}, options), b = associate(spread, width, {}, options);
    CHECK(a.low == b.low);
    CHECK(a.high == b.high);
    // The ends are the exact distribution's 2.5% and 97.5% quantiles up to
    // Monte-Carlo error: a quantile level from 40000 resamples is off by
    // about sqrt(0.025 x 0.975 / 40000) = 0.0008, so each end lies between
    // the exact quantiles 1% either side of its level (12 such errors).
    CHECK(a.low >= sorted_percentile(exact, 0.015));
    CHECK(a.low <= sorted_percentile(exact, 0.035));
    CHECK(a.high >= sorted_percentile(exact, 0.965));
    CHECK(a.high <= sorted_percentile(exact, 0.985));
    CHECK(sorted_percentile(exact, 0.035) < sorted_percentile(exact, 0.05));  // not a degenerate case
}

TEST_CASE("the same seed gives the same interval") {
    AssociationOptions options;
    options.seed = 3;
    const std::vector<std::vector<double>> replicates{{3, 2}, {2.5, 2.9}, {1, 1.5}, {0.5, 1.2}};
    const Association a = associate(replicates, {1, 2, 3, 4}, {}, options);
    const Association b = associate(replicates, {1, 2, 3, 4}, {}, options);
    CHECK(a.low == b.low);
    CHECK(a.high == b.high);
    CHECK(a.p_value == b.p_value);
}

TEST_CASE("verdicts need the interval on one side of 0 and a Holm-adjusted p below alpha") {
    StudyStatistics statistics;  // alpha 0.05
    Association a;
    a.rho = -0.7, a.low = -0.9, a.high = -0.3, a.p_value = 0.001;
    const std::string no = "not equivalent";
    CHECK(association_verdict(a, 0.01, -1, no, statistics) == "holds");
    CHECK(association_verdict(a, 0.01, +1, no, statistics) == "reversed");
    CHECK(association_verdict(a, 0.01, 0, no, statistics) == "no claim");
    // A small unadjusted p is not enough: the verdict follows the adjusted one.
    CHECK(association_verdict(a, 0.2, -1, no, statistics) == "undecided");
    a.high = 0.1;  // nor is a small p with an interval across 0
    CHECK(association_verdict(a, 0.01, -1, no, statistics) == "undecided");
    a.low = a.high = a.p_value = NAN;  // too few cells
    CHECK(association_verdict(a, NAN, -1, "no interval", statistics) == "undecided");
    // An interval that rules out effects of the bound: "equivalent", not
    // "undecided" (no evidence) and not "holds"; any other outcome of the
    // equivalence test leaves it undecided.
    a.rho = 0.02, a.low = -0.15, a.high = 0.19, a.p_value = 0.8;
    CHECK(association_verdict(a, 1.0, -1, "equivalent", statistics) == "equivalent");
    CHECK(association_verdict(a, 1.0, 0, "equivalent", statistics) == "no claim");
    for (const char* outcome : {"not equivalent", "seeds too noisy", "noise unknown"})
        CHECK(association_verdict(a, 1.0, -1, outcome, statistics) == "undecided");
}

TEST_CASE("the equivalence test compares the interval with the bound on the observed means' scale") {
    Association a;
    a.low = -0.05, a.high = 0.12;
    CHECK(equivalence_test(a, 0.13) == "equivalent");
    CHECK(equivalence_test(a, 0.12) == "not equivalent");  // touching the bound rules nothing out
    // The seeds' noise may hide any effect (noise ratio's interval unbounded).
    CHECK(equivalence_test(a, 0.0) == "seeds too noisy");
    CHECK(equivalence_test(a, NAN) == "noise unknown");
    a.low = a.high = NAN;
    CHECK(equivalence_test(a, 0.13) == "no interval");
}

TEST_CASE("Holm's adjustment equals the hand computation, NaN p-values outside the family") {
    // Family of m = 4: sorted 0.005, 0.01, 0.03, 0.04 are multiplied by
    // 4, 3, 2, 1 (0.02, 0.03, 0.06, 0.04) and made non-decreasing
    // (0.02, 0.03, 0.06, 0.06), then put back in the input's order.
    const std::vector<double> adjusted = holm_adjusted({0.01, 0.04, 0.03, 0.005, NAN});
    REQUIRE(adjusted.size() == 5);
    CHECK(adjusted[0] == Approx(0.03).epsilon(1e-12));
    CHECK(adjusted[1] == Approx(0.06).epsilon(1e-12));
    CHECK(adjusted[2] == Approx(0.06).epsilon(1e-12));
    CHECK(adjusted[3] == Approx(0.02).epsilon(1e-12));
    CHECK(std::isnan(adjusted[4]));
    // Capped at 1, and still monotone: 2 x 0.5 = 1, then max(1, 0.6) = 1.
    CHECK(holm_adjusted({0.6, 0.5}) == std::vector<double>{1.0, 1.0});
    CHECK(holm_adjusted({0.02}) == std::vector<double>{0.02});  // a family of one is not adjusted
}

TEST_CASE("an equivalence test needs the whole interval strictly inside the bound") {
    CHECK(equivalence_outcome(-0.1, 0.15, 0.2) == "equivalent");
    CHECK(equivalence_outcome(-0.25, 0.1, 0.2) == "not equivalent");
    CHECK(equivalence_outcome(-0.1, 0.2, 0.2) == "not equivalent");  // touching the bound rules nothing out
    CHECK(equivalence_outcome(0.3, 0.5, 0.2) == "not equivalent");
    CHECK(equivalence_outcome(NAN, NAN, 0.2) == "no interval");
}

TEST_CASE("a run that never reaches the loss threshold is censored one step after its last") {
    // 4 steps per epoch (window 1): the loss reaches 0.5 at step 6 -> 6/4 epochs.
    const std::vector<double> reached{1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3};
    const ConvergenceTime fast = convergence_time(reached, 4, 0.5);
    CHECK(fast.epochs == 1.5);
    CHECK_FALSE(fast.censored);
    // Never at or below 0.2 within 2 epochs: counted at 9/4, after every
    // run that reached it (the latest any could reach is 8/4 = 2).
    const ConvergenceTime never = convergence_time(reached, 4, 0.2);
    CHECK(never.epochs == 2.25);
    CHECK(never.censored);
}

TEST_CASE("a cell whose runs never reach the threshold stays in the convergence ranking, last") {
    // Four cells from narrow to wide; the narrowest never reaches the
    // threshold in either seed. Dropping it (as a NaN would) leaves three
    // cells; kept and ranked last, the ranking is the widths' exactly.
    auto row = [](const char* cell, double width, int64_t seed, const std::vector<double>& losses) {
        StudyRow r;
        r.cell = cell, r.seed = seed, r.epoch = 2, r.normal_width = width, r.population = "normal-connections";
        r.status = "ok";
        r.directory = std::string(cell) + "/seed-" + std::to_string(seed);
        const ConvergenceTime time = convergence_time(losses, 4, 0.5);
        r.epochs_to_threshold = time.epochs;
        r.censored = time.censored;
        return r;
    };
    const std::vector<double> never(8, 0.9), late{1, 1, 1, 1, 0.9, 0.8, 0.6, 0.5},
        middle{1, 1, 0.9, 0.6, 0.5, 0.5, 0.5, 0.5}, early{0.5, 0.5, 0.4, 0.4, 0.4, 0.3, 0.3, 0.3};
    const std::vector<StudyRow> rows{row("chain", 1, 1, never), row("chain", 1, 2, never),
                                     row("two", 2, 1, late),    row("two", 2, 2, late),
                                     row("three", 3, 1, middle), row("three", 3, 2, middle),
                                     row("four", 4, 1, early),  row("four", 4, 2, early)};
    const auto cells = summarize_cells(rows);
    REQUIRE(cells.size() == 4);
    CHECK(cells[0].censored == 2);
    CHECK(cells[1].censored == 0);
    StudyStatistics statistics;
    statistics.permutations = 200, statistics.bootstrap_samples = 200, statistics.power_simulations = 200;
    for (const auto& association : associate_with_predictors(rows, statistics))
        if (association.metric == "epochs_to_threshold" && association.predictor == "normal_width" &&
            association.controlling.empty()) {
            CHECK(association.association.cells == 4);
            CHECK(association.association.rho == Approx(-1.0));
        }
}

TEST_CASE("the cells table averages finished replicates only, per epoch, in first-seen order") {
    auto row = [](const char* cell, int64_t seed, int64_t epoch, double loss, const char* status = "ok") {
        StudyRow r;
        r.cell = cell, r.seed = seed, r.epoch = epoch, r.train_loss = loss, r.status = status;
        r.directory = std::string(cell) + "/seed-" + std::to_string(seed);
        r.normal_width = cell[0] == 'w' ? 4 : 1;
        r.population = "normal-connections";
        return r;
    };
    const std::vector<StudyRow> rows{row("wide", 1, 2, 1.0), row("wide", 2, 2, 3.0), row("wide", 3, 0, NAN, "failed: x"),
                                     row("chain", 1, 2, 5.0), row("wide", 1, 4, 0.5), row("chain", 1, 4, 2.0)};
    const auto cells = summarize_cells(rows);
    REQUIRE(cells.size() == 4);  // (wide, 2), (chain, 2), (wide, 4), (chain, 4)
    CHECK(cells[0].cell == "wide");
    CHECK(cells[0].epoch == 2);
    CHECK(cells[0].directory == "wide");
    CHECK(cells[0].n == 2);  // the failed seed is not a replicate of the mean
    CHECK(cells[0].metrics[0].mean == 2.0);  // train_loss is the first metric
    CHECK(cells[0].metrics[0].std == Approx(std::sqrt(2.0)));
    CHECK(cells[1].cell == "chain");
    CHECK(cells[1].n == 1);
    CHECK(std::isnan(cells[1].metrics[0].low));
    CHECK(cells[2].epoch == 4);
    CHECK(cells[2].n == 1);
    CHECK(std::string(study_metrics()[0].name) == "train_loss");
}

namespace {

// Equal element by element, NaN equal to NaN (a p-value no test gave).
bool same_values(const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
    return true;
}

bool has_column(const StudyTable& table, const std::string& name) {
    return std::any_of(table.columns.begin(), table.columns.end(), [&](const auto& c) { return c.first == name; });
}

}  // namespace

TEST_CASE("an optional analysis's metrics get columns only when measured, and a Holm family of their own") {
    // Six cells of one population, two seeds: train_loss falls with width,
    // snip rises with it, zico does not follow it; every other metric unmeasured.
    std::vector<StudyRow> rows;
    for (int c = 0; c < 6; ++c)
        for (int seed = 1; seed <= 2; ++seed) {
            StudyRow r;
            r.cell = "cell" + std::to_string(c);
            r.population = "p";
            r.status = "ok";
            r.epoch = 1;
            r.seed = seed;
            r.normal_width = 1 + c;
            r.normal_depth = (c * 5) % 4 + 1;
            r.train_loss = 1.0 / (c + 1) + 0.01 * seed;
            r.test_loss = 0.3 * ((c * 7) % 6) + 0.02 * seed;
            r.epochs_to_threshold = 2.0 - 0.2 * c + 0.03 * ((c * 3) % 4) + 0.01 * seed;
            rows.push_back(r);
        }
    std::vector<StudyRow> with_proxies = rows;
    for (StudyRow& r : with_proxies) {
        r.snip = r.normal_width + 0.1 * static_cast<double>(r.seed);
        r.zico = static_cast<double>((static_cast<int>(r.normal_width) * 5) % 6) + 0.1 * static_cast<double>(r.seed);
    }
    StudyStatistics statistics;
    statistics.bootstrap_samples = 200;
    statistics.permutations = 720;
    statistics.power_simulations = 100;

    CHECK_FALSE(has_column(replicates_table(rows), "snip"));
    CHECK(has_column(replicates_table(rows), "top_eigenvalue"));  // the family "" keeps its columns unmeasured
    CHECK(has_column(replicates_table(with_proxies), "snip"));
    CHECK(has_column(replicates_table(with_proxies), "zico"));
    CHECK_FALSE(has_column(replicates_table(with_proxies), "grad_norm"));
    CHECK_FALSE(has_column(cells_table(summarize_cells(rows)), "snip_mean"));
    CHECK(has_column(cells_table(summarize_cells(with_proxies)), "snip_mean"));
    CHECK_FALSE(has_column(cells_table(summarize_cells(with_proxies)), "grad_norm_mean"));

    const auto plain = associate_with_predictors(rows, statistics);
    const auto both = associate_with_predictors(with_proxies, statistics);
    std::vector<double> proxy_p, proxy_holm;
    std::size_t matched = 0;
    for (const auto& row : both) {
        CHECK(row.metric != "grad_norm");
        if (row.metric == "snip" || row.metric == "zico") {
            CHECK(row.verdict == "no claim");
            proxy_p.push_back(row.association.p_value);
            proxy_holm.push_back(row.p_holm);
            continue;
        }
        for (const auto& old : plain)
            if (old.metric == row.metric && old.predictor == row.predictor && old.controlling == row.controlling) {
                ++matched;
                // Bitwise: the proxies' rows are not in this row's family.
                CHECK(same_values({old.p_holm}, {row.p_holm}));
            }
    }
    CHECK(matched == plain.size());
    REQUIRE(proxy_p.size() == 8);  // 2 proxies x 2 predictors x plain and partial
    CHECK(same_values(proxy_holm, holm_adjusted(proxy_p)));
    CHECK(std::count_if(both.begin(), both.end(), [](const auto& r) { return r.metric == "snip"; }) == 4);

    // Metric against metric: a pair with a proxy is in the proxies' family.
    std::vector<double> pair_p, pair_holm, other_p, other_holm;
    for (const auto& row : associate_metric_pairs(with_proxies, statistics)) {
        const bool proxy = row.metric == "snip" || row.metric == "zico" || row.other == "snip" || row.other == "zico";
        (proxy ? pair_p : other_p).push_back(row.association.p_value);
        (proxy ? pair_holm : other_holm).push_back(row.p_holm);
    }
    REQUIRE(pair_p.size() == 7);  // snip-zico, and each with train_loss, test_loss and epochs_to_threshold
    CHECK(same_values(pair_holm, holm_adjusted(pair_p)));
    CHECK(same_values(other_holm, holm_adjusted(other_p)));

    // Width -> convergence through a proxy: a row per measured proxy, none without them.
    auto mediators = [](const std::vector<StudyMediationRow>& table) {
        std::vector<std::string> names;
        for (const auto& row : table) names.push_back(row.mediator);
        return names;
    };
    CHECK(mediators(mediate_convergence(rows, statistics)).empty());  // no landscape metric measured either
    CHECK(mediators(mediate_convergence(with_proxies, statistics)) == std::vector<std::string>{"snip", "zico"});
}

TEST_CASE("F quantiles and probabilities equal scipy's to 1e-10 relative") {
    // scipy.stats.f.ppf(p, d1, d2) and f.cdf; bisection stops at 1e-14 of the value.
    CHECK(f_quantile(0.975, 4, 10) == Approx(4.46834157822528).epsilon(1e-10));
    CHECK(f_quantile(0.025, 4, 10) == Approx(0.11307253037371251).epsilon(1e-10));
    CHECK(f_quantile(0.975, 23, 46) == Approx(1.971105593106654).epsilon(1e-10));
    CHECK(f_quantile(0.025, 23, 46) == Approx(0.46488741515305204).epsilon(1e-10));
    CHECK(f_quantile(0.5, 1, 1) == Approx(1.0).epsilon(1e-10));
    CHECK(f_quantile(0.99, 149, 148) == Approx(1.4677457790968365).epsilon(1e-10));
    CHECK(f_quantile(0.001, 2, 3) == Approx(0.0010008340747537205).epsilon(1e-10));
    CHECK(f_cdf(2.5, 4, 10) == Approx(0.890625).epsilon(1e-12));
    CHECK(f_cdf(0, 4, 10) == 0);
}

TEST_CASE("few cells get the exact permutation p-value: every ordering counted, the identity included") {
    // Five cells in the predictor's order: 2 of the 5! = 120 orderings reach
    // |rho| = 1, so p is exactly 2/120 (a sampled test with 5000 draws gave
    // 0.0168 +- 0.0018 plus the estimator's +1/5001).
    AssociationOptions options;
    options.seed = 7;
    const Association ordered = associate({{5.0}, {4.0}, {3.0}, {2.0}, {1.0}}, {1, 2, 3, 4, 5}, {}, options);
    CHECK(ordered.exact);
    CHECK(ordered.permutations == 120);
    CHECK(ordered.p_value == 2.0 / 120.0);
    // Means 1, 3, 2, 4, 5 against 1..5 (rho = 0.9): |rho| >= 0.9 in 10 of
    // the 120 orderings (scipy: sum(abs(spearmanr(m, p)[0]) >= 0.9 - 1e-12
    // for p in itertools.permutations(range(5))) is 10).
    const Association nine = associate({{1.0}, {3.0}, {2.0}, {4.0}, {5.0}}, {1, 2, 3, 4, 5}, {}, options);
    CHECK(nine.rho == Approx(0.9).epsilon(1e-12));
    CHECK(nine.p_value == 10.0 / 120.0);
    // Nine cells are too many to enumerate (9! > 40320): sampled.
    const Association nine_cells = associate({{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}},
                                             {1, 2, 3, 4, 5, 6, 7, 8, 9}, {}, options);
    CHECK_FALSE(nine_cells.exact);
    CHECK(nine_cells.permutations == options.permutations);
    // The exact p is 2/9! = 5.5e-6; 5000 draws give (1 + k) / 5001 with k,
    // the draws reaching |rho| = 1, almost always 0 (P(k >= 5) < 1e-12).
    CHECK(nine_cells.p_value < 6.0 / (options.permutations + 1.0));
    // With permutations asked beyond 9! the 9 cells are enumerated after all.
    options.permutations = 400000;
    CHECK(associate({{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {}, options).exact);
}

TEST_CASE("orderings whose statistic is undefined are left out of the permutation count") {
    // A statistic undefined for 4 of the 24 orderings of 4 units and extreme
    // for 2 of the others (the identity among them): p = 2 / 20, not 2 / 24.
    SeededRandom random(1);
    int calls = 0;
    const PermutationTest test = permutation_test(4, 1.0, 100, random, [&](const std::vector<std::size_t>& order) {
        ++calls;
        if (order[0] == 3) return order[1] < 2 ? NAN : 0.0;  // 6 orderings start with 3: 4 undefined
        return order == std::vector<std::size_t>{0, 1, 2, 3} || order == std::vector<std::size_t>{1, 0, 2, 3}
                   ? 1.0
                   : 0.5;
    });
    CHECK(calls == 24);
    CHECK(test.exact);
    CHECK(test.permutations == 24);
    CHECK(test.p_value == 2.0 / 20.0);
}

TEST_CASE("an interval that every resample gives as one point is flagged degenerate") {
    AssociationOptions options;
    options.seed = 3;
    // Means in the predictor's order: every resample keeps it (rho = 1).
    const Association ordered = associate({{1.0}, {2.0}, {3.0}, {4.0}, {5.0}}, {1, 2, 3, 4, 5}, {}, options);
    CHECK(ordered.low == 1.0);
    CHECK(ordered.high == 1.0);
    CHECK(ordered.degenerate_interval);
    const Association spread = associate({{1.0}, {3.0}, {2.0}, {5.0}, {4.0}, {6.0}}, {1, 2, 3, 4, 5, 6}, {}, options);
    CHECK(spread.low < spread.high);
    CHECK_FALSE(spread.degenerate_interval);
}

TEST_CASE("Gehan's scores order censored runs after every observed one and only by order") {
    // Times 1.5, 3.5, 3.5 observed and one censored (placeholder 5.25):
    // 1.5 is certainly faster than the three others (-3); each 3.5 is slower
    // than 1.5 and faster than the censored run (0); the censored run is
    // slower than all three (+3). By hand.
    const std::vector<double> scores = gehan_scores({1.5, 5.25, 3.5, 3.5}, {false, true, false, false});
    CHECK(scores == std::vector<double>{-3, 3, 0, 0});
    // Any placeholder beyond the observed times gives the same scores.
    CHECK(gehan_scores({1.5, 99.0, 3.5, 3.5}, {false, true, false, false}) == scores);
    // Two censored runs are not ordered between themselves.
    CHECK(gehan_scores({2.0, 9.0, 8.0}, {false, true, true}) == std::vector<double>{-2, 1, 1});
    // A run that converged at the time another was last seen unconverged
    // came first (an event at t before a censoring at t).
    CHECK(gehan_scores({4.0, 4.0}, {false, true}) == std::vector<double>{-1, 1});
    CHECK(gehan_scores({4.0, 4.0}, {false, false}) == std::vector<double>{0, 0});
}

TEST_CASE("a censored run's placeholder does not move its cell in the convergence ranking") {
    // Cell "mixed" has runs {1.5, censored}, cell "steady" {3.5, 3.5}. By the
    // means of the placeholder (horizon 4 epochs + one step = 4.25) the mixed
    // cell (2.875) ranks ahead of the steady one (3.5); by the order of the
    // runs alone neither is ahead: 1.5 beats everything, the censored run
    // loses to everything, and the steady cell's runs sit between (Gehan
    // scores -3 + 3 against 0 + 0).
    auto row = [](const char* cell, double width, int64_t seed, double epochs, bool censored) {
        StudyRow r;
        r.cell = cell, r.seed = seed, r.epoch = 4, r.normal_width = width, r.population = "normal-connections";
        r.status = "ok", r.directory = std::string(cell) + "/seed-" + std::to_string(seed);
        r.epochs_to_threshold = epochs, r.censored = censored;
        return r;
    };
    std::vector<StudyRow> rows{row("mixed", 1, 1, 1.5, false), row("mixed", 1, 2, 4.25, true),
                               row("steady", 2, 1, 3.5, false), row("steady", 2, 2, 3.5, false)};
    CHECK((rows[0].epochs_to_threshold + rows[1].epochs_to_threshold) / 2 < 3.5);  // the placeholder's ranking
    std::vector<std::vector<const StudyRow*>> cells(2);
    for (std::size_t i = 0; i < rows.size(); ++i) cells[i / 2].push_back(&rows[i]);
    const auto& metrics = study_metrics();
    const StudyMetric& convergence =
        *std::find_if(metrics.begin(), metrics.end(), [](const auto& m) { return std::string(m.name) == "epochs_to_threshold"; });
    const CellReplicates values = rank_test_values(cells, convergence);
    const double mixed = (values.values[0][0] + values.values[0][1]) / 2, steady = (values.values[1][0] + values.values[1][1]) / 2;
    CHECK(mixed == steady);
    // Moving the placeholder moves nothing.
    rows[1].epochs_to_threshold = 40.0;
    const CellReplicates moved = rank_test_values(cells, convergence);
    CHECK(moved.values == values.values);
    // Other metrics are their values.
    const StudyMetric& loss = metrics.front();
    rows[0].train_loss = 0.25;
    CHECK(rank_test_values(cells, loss).values[0][0] == 0.25);
}
