// A study's association and mediation tables (study/study_tables.hpp) on
// small synthetic replicates: Holm's family without duplicates, the
// permutations a family needs, power and equivalence at the level and on
// the scale the verdicts use, and the mediation table's limits. The
// references are written out here (Holm by hand, the power functions
// called on the row's own design) or follow from the construction.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "cellscape/stats/power.hpp"
#include "cellscape/study/study_tables.hpp"
#include "cellscape/util/random.hpp"

using namespace cellscape;
using Approx = Catch::Detail::Approx;

namespace {

// Replicates of cells with the given widths and depths, `seeds` each, a
// metric field filled by `value(cell, seed)`; every other metric NaN.
std::vector<StudyRow> synthetic_rows(const std::vector<double>& width, const std::vector<int64_t>& depth, int seeds,
                                     const std::vector<double StudyRow::*>& fields,
                                     const std::function<double(std::size_t, int, std::size_t)>& value) {
    std::vector<StudyRow> rows;
    for (std::size_t c = 0; c < width.size(); ++c)
        for (int s = 1; s <= seeds; ++s) {
            StudyRow row;
            row.cell = "cell-" + std::to_string(c);
            row.directory = row.cell + "/seed-" + std::to_string(s);
            row.population = "normal-connections";
            row.status = "ok";
            row.seed = s;
            row.epoch = 4;
            row.normal_width = width[c];
            row.normal_depth = depth[c];
            for (std::size_t f = 0; f < fields.size(); ++f) row.*fields[f] = value(c, s, f);
            rows.push_back(row);
        }
    return rows;
}

StudyStatistics quick_statistics() {
    StudyStatistics statistics;
    statistics.bootstrap_samples = 500;
    statistics.permutations = 500;
    statistics.power_simulations = 200;
    return statistics;
}

const StudyAssociationRow& find_row(const std::vector<StudyAssociationRow>& rows, const std::string& metric,
                                    const std::string& predictor, const std::string& controlling = "") {
    for (const auto& row : rows)
        if (row.metric == metric && row.predictor == predictor && row.controlling == controlling) return row;
    FAIL("no row " << metric << " against " << predictor << " controlling " << controlling);
    return rows.front();
}

}  // namespace

TEST_CASE("depth rows whose ranks repeat the width rows are counted once in Holm's family") {
    // Width 1..10 and depth exactly reversed (the chain is deepest): a depth
    // row is the width row's test with rho's sign turned. Two metrics with a
    // clear trend and noise between seeds.
    std::vector<double> width;
    std::vector<int64_t> depth;
    for (int c = 0; c < 10; ++c) width.push_back(1 + 0.5 * c), depth.push_back(11 - c);
    SeededRandom random(5);
    const auto rows = synthetic_rows(width, depth, 2, {&StudyRow::train_loss, &StudyRow::train_accuracy},
                                     [&](std::size_t c, int, std::size_t f) {
                                         return (f == 0 ? -1.0 : 0.3) * static_cast<double>(c) + random.normal();
                                     });
    const auto associations = associate_with_predictors(rows, quick_statistics());
    const StudyAssociationRow& loss_width = find_row(associations, "train_loss", "normal_width");
    const StudyAssociationRow& loss_depth = find_row(associations, "train_loss", "normal_depth");
    const StudyAssociationRow& acc_width = find_row(associations, "train_acc", "normal_width");
    CHECK(loss_width.duplicate_of.empty());
    CHECK(loss_depth.duplicate_of == "normal_width");
    CHECK(loss_depth.association.rho == -loss_width.association.rho);
    CHECK(loss_depth.association.low == -loss_width.association.high);
    CHECK(loss_depth.association.p_value == loss_width.association.p_value);
    // The partial rows are undefined (depth explains width completely), so
    // the family is the two width rows: Holm of two p-values, by hand.
    CHECK(std::isnan(find_row(associations, "train_loss", "normal_width", "normal_depth").association.rho));
    CHECK(loss_width.family_size == 2);
    const double p1 = loss_width.association.p_value, p2 = acc_width.association.p_value;
    const double smaller = std::min(1.0, 2 * std::min(p1, p2)), larger = std::max(smaller, std::min(1.0, std::max(p1, p2)));
    CHECK(loss_width.p_holm == Approx(p1 <= p2 ? smaller : larger).epsilon(1e-12));
    CHECK(acc_width.p_holm == Approx(p1 <= p2 ? larger : smaller).epsilon(1e-12));
    CHECK(loss_depth.p_holm == loss_width.p_holm);
    CHECK(loss_depth.verdict == loss_width.verdict);  // the depth claim's sign is the width claim's turned round
}

TEST_CASE("a family's permutations grow with it so that Holm can decide every row") {
    // 12 cells (too many to enumerate), five finite metrics, width and depth
    // not collinear: 5 metrics x 2 predictors x (plain, partial) = 20 tests.
    std::vector<double> width;
    std::vector<int64_t> depth;
    for (int c = 0; c < 12; ++c) width.push_back(1 + 0.5 * (c % 7)), depth.push_back(2 + (c * 5) % 4);
    SeededRandom random(8);
    const std::vector<double StudyRow::*> fields{&StudyRow::train_loss, &StudyRow::train_accuracy, &StudyRow::test_loss,
                                                 &StudyRow::test_accuracy, &StudyRow::trace};
    const auto rows = synthetic_rows(width, depth, 2, fields, [&](std::size_t c, int, std::size_t f) {
        return static_cast<double>(c * (f + 1)) + random.normal();
    });
    StudyStatistics statistics = quick_statistics();
    statistics.permutations = 100;
    const auto associations = associate_with_predictors(rows, statistics);
    int64_t finite = 0;
    for (const auto& row : associations) finite += std::isfinite(row.association.p_value);
    REQUIRE(finite == 20);
    for (const auto& row : associations) {
        if (!std::isfinite(row.association.p_value)) continue;
        CHECK(row.family_size == 20);
        // 20 m / alpha = 8000, far above the 100 asked: the smallest p a
        // sampled test gives, times m, is alpha / 20.
        CHECK(row.association.permutations == 8000);
        CHECK_FALSE(row.association.exact);
        CHECK(20.0 / (row.association.permutations + 1) < statistics.alpha / 20);
    }
}

TEST_CASE("min|rho| is computed at Holm's first step, and a study that cannot plan says so") {
    std::vector<double> width;
    std::vector<int64_t> depth;
    for (int c = 0; c < 21; ++c) width.push_back(1 + 0.5 * (c % 7)), depth.push_back(2 + c % 3);
    SeededRandom random(9);
    // train_loss: cells differ (between 1) and seeds add noise 0.5;
    // trace: a Latin square, each cell's seeds 0, 1, 2 in turn, so every
    // seed has the mean 1 and the cells' means differ by 0.01 c only, far
    // less than the seeds' spread: between estimated 0, within 1.
    std::vector<double> means;
    for (std::size_t c = 0; c < width.size(); ++c) means.push_back(random.normal());
    const auto rows = synthetic_rows(width, depth, 3, {&StudyRow::train_loss, &StudyRow::trace},
                                     [&](std::size_t c, int s, std::size_t f) {
                                         return f == 0 ? means[c] + std::sqrt(0.5) * random.normal()
                                                       : static_cast<double>((c + static_cast<std::size_t>(s)) % 3) +
                                                             0.01 * static_cast<double>(c);
                                     });
    const StudyStatistics statistics = quick_statistics();
    const auto associations = associate_with_predictors(rows, statistics);
    const StudyAssociationRow& loss = find_row(associations, "train_loss", "normal_width");
    REQUIRE(loss.family_size > 1);
    CHECK(loss.power_alpha == statistics.alpha / static_cast<double>(loss.family_size));
    // The reference: the power functions on the row's design at that level.
    RankTestDesign design;
    design.predictor = width;
    design.seeds.assign(width.size(), 3);
    design.noise_ratio = loss.noise_ratio;
    PowerOptions options;
    options.simulations = statistics.power_simulations;
    options.null_simulations = 2000;
    options.alpha = loss.power_alpha;
    REQUIRE(std::isfinite(loss.min_detectable_rho));
    CHECK(loss.min_detectable_rho == minimum_detectable_rho(design, statistics.power, options));
    options.alpha = statistics.alpha;
    CHECK(loss.min_detectable_rho > minimum_detectable_rho(design, statistics.power, options));
    CHECK(loss.power_note.empty());
    // The noise ratio's interval holds its estimate, and the equivalence
    // bound is the noise-free bound attenuated at the interval's upper end.
    CHECK(loss.noise_ratio_low < loss.noise_ratio);
    CHECK(loss.noise_ratio < loss.noise_ratio_high);
    RankTestDesign noisiest = design;
    noisiest.noise_ratio = loss.noise_ratio_high;
    options.alpha = statistics.alpha;
    CHECK(loss.observed_bound == attenuated_rho(noisiest, statistics.equivalence_bound, options));
    CHECK(loss.observed_bound < statistics.equivalence_bound);
    // The trace's cells do not differ: nothing can be planned from them, and
    // no equivalence can be claimed (the seeds could hide anything).
    const StudyAssociationRow& trace = find_row(associations, "trace", "normal_width");
    CHECK(std::isnan(trace.min_detectable_rho));
    CHECK(trace.power_note.find("cannot be planned") != std::string::npos);
    CHECK(std::isinf(trace.noise_ratio_high));
    CHECK(trace.observed_bound == 0);
    CHECK(trace.equivalence == "seeds too noisy");
}

TEST_CASE("the mediation table says too few cells, flags what its numbers cannot carry, and adjusts its mediators") {
    // 8 cells (fewer than the minimum): estimates only.
    std::vector<double> width;
    std::vector<int64_t> depth;
    for (int c = 0; c < 8; ++c) width.push_back(1 + 0.5 * (c % 7)), depth.push_back(2 + c % 3);
    SeededRandom random(10);
    const std::vector<double StudyRow::*> fields{&StudyRow::epochs_to_threshold, &StudyRow::gradient_variance,
                                                 &StudyRow::top_eigenvalue};
    auto value = [&](std::size_t c, int, std::size_t f) {
        const double w = 1 + 0.5 * static_cast<double>(c % 7);
        return f == 0 ? 5 - w + random.normal() : f == 1 ? 3 - w + random.normal() : random.normal();
    };
    const auto few = mediate_convergence(synthetic_rows(width, depth, 2, fields, value), quick_statistics());
    REQUIRE_FALSE(few.empty());
    for (const auto& row : few) {
        CHECK(row.verdict == "too few cells");
        CHECK(row.notes.find("too few cells (8 < 12)") != std::string::npos);
        CHECK(std::isnan(row.mediation.low));
        CHECK(std::isnan(row.mediation.p_value));
        CHECK(std::isnan(row.p_holm));
    }
    // 40 cells: intervals, a joint test per mediator, Holm over the mediators by hand.
    width.clear(), depth.clear();
    for (int c = 0; c < 40; ++c) width.push_back(1 + 0.5 * (c % 7)), depth.push_back(2 + c % 3);
    const auto many = mediate_convergence(synthetic_rows(width, depth, 2, fields, value), quick_statistics());
    std::vector<const StudyMediationRow*> tested;
    for (const auto& row : many)
        if (std::isfinite(row.mediation.p_value)) tested.push_back(&row);
    REQUIRE(tested.size() == 2);  // gradient variance and top eigenvalue; the others were not measured
    for (const auto* row : tested) {
        CHECK(row->mediation.p_value == std::max(row->mediation.p_a, row->mediation.p_b));
        CHECK(row->verdict != "too few cells");
    }
    const double p1 = tested[0]->mediation.p_value, p2 = tested[1]->mediation.p_value;
    const double first = std::min(1.0, 2 * std::min(p1, p2)), second = std::max(first, std::max(p1, p2));
    CHECK(tested[0]->p_holm == Approx(p1 <= p2 ? first : second).epsilon(1e-12));
    CHECK(tested[1]->p_holm == Approx(p1 <= p2 ? second : first).epsilon(1e-12));
}

TEST_CASE("mediation notes name intervals beyond 1, dropped resamples and a mediator nearly the predictor") {
    Mediation m;
    m.cells = 30, m.minimum_cells = 12, m.low = -1.2, m.high = 0.3, m.dropped = 0.08, m.a = -0.95;
    const std::string notes = mediation_notes(m);
    CHECK(notes.find("interval beyond +-1") != std::string::npos);
    CHECK(notes.find("8% of resamples dropped") != std::string::npos);
    CHECK(notes.find("|a| = 0.95 > 0.9") != std::string::npos);
    m.low = -0.5, m.dropped = 0.01, m.a = 0.5;
    CHECK(mediation_notes(m).empty());
    // Verdicts follow the total's side.
    StudyStatistics statistics;
    m.total = -0.5, m.low = -0.3, m.high = -0.1;
    CHECK(mediation_verdict(m, 0.01, statistics) == "carries");
    CHECK(mediation_verdict(m, 0.2, statistics) == "undecided");
    m.low = 0.1, m.high = 0.3;
    CHECK(mediation_verdict(m, 0.01, statistics) == "opposes");
    m.too_few_cells = true;
    CHECK(mediation_verdict(m, 0.01, statistics) == "too few cells");
}
