// The study's tables for people: the per-cell means, the verdicts, the
// metrics against convergence, the mediation estimates, the replicates.
#include "cellscape/study/study_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "cellscape/cells/metrics.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {
namespace {

std::string number(double value, const char* format) {
    return std::isfinite(value) ? fmt::format(fmt::runtime(format), value) : std::string("-");
}

// "0.412±0.021": the mean and the interval's half width (the mean alone for one replicate).
std::string mean_with_interval(const MeanInterval& interval) {
    if (interval.n == 0) return "-";
    if (!std::isfinite(interval.high)) return fmt::format("{:.4g}", interval.mean);
    return fmt::format("{:.4g}±{:.2g}", interval.mean, 0.5 * (interval.high - interval.low));
}

std::size_t metric_index(const std::string& name) {
    const auto& metrics = study_metrics();
    for (std::size_t i = 0; i < metrics.size(); ++i)
        if (metrics[i].name == name) return i;
    return metrics.size();
}

}  // namespace

std::string format_cells_table(std::vector<StudyCellRow> cells) {
    std::stable_sort(cells.begin(), cells.end(), [](const StudyCellRow& a, const StudyCellRow& b) {
        return a.epoch != b.epoch ? a.epoch < b.epoch : a.normal_width < b.normal_width;
    });
    const char* shown[] = {"train_loss", "test_acc", "epochs_to_threshold", "top_eigenvalue",
                           "gradient_variance", "noise_scale", "basin_fraction"};
    std::string table = fmt::format("{:<40} {:>6} {:>5} {:>5} {:>3} {:>4}", "cell (mean±95% half-width)", "width",
                                    "depth", "epoch", "n", "cens");
    for (const char* name : shown) table += fmt::format(" {:>17}", name);
    table += "\n";
    for (const StudyCellRow& cell : cells) {
        table += fmt::format("{:<40} {:>6} {:>5} {:>5} {:>3} {:>4}", cell.cell, format_width(cell.normal_width),
                             cell.normal_depth, cell.epoch, cell.n, cell.censored);
        for (const char* name : shown) table += fmt::format(" {:>17}", mean_with_interval(cell.metrics[metric_index(name)]));
        table += "\n";
    }
    return table;
}

namespace {

// "+0.42 [+0.10, +0.70]"; a degenerate interval (every resample gave the same rho) marked "*".
std::string rho_with_interval(const Association& a) {
    return std::isfinite(a.rho)
               ? fmt::format("{:+.2f} [{}, {}]{}", a.rho, number(a.low, "{:+.2f}"), number(a.high, "{:+.2f}"),
                             a.degenerate_interval ? "*" : "")
               : std::string("-");
}

// "p < 0.001" style p-values, as far as the permutations resolve them.
std::string p_value_text(double p) {
    return std::isfinite(p) ? (p < 0.001 ? fmt::format("{:.1e}", p) : fmt::format("{:.3f}", p)) : std::string("-");
}

// The verdict table's column "±bound": is the interval inside the bound?
const char* equivalence_mark(const std::string& equivalence) {
    if (equivalence == "equivalent") return "inside";
    if (equivalence == "not equivalent") return "no";
    if (equivalence == "seeds too noisy") return "noisy";
    return "-";
}

// The permutation tests of some rows, in words: how many permutations,
// and which rows were exact.
template <typename Row>
std::string permutations_text(const std::vector<Row>& rows) {
    int64_t fewest = 0, most = 0, exact = 0, sampled = 0;
    for (const Row& row : rows) {
        const Association& a = row.association;
        if (a.permutations == 0) continue;
        (a.exact ? exact : sampled) += 1;
        if (!a.exact) {
            fewest = fewest == 0 ? a.permutations : std::min(fewest, a.permutations);
            most = std::max(most, a.permutations);
        }
    }
    std::string text;
    if (exact > 0) text = fmt::format("{} exact over every ordering of the cells", sampled > 0 ? "some" : "all");
    if (sampled > 0)
        text += fmt::format("{}{} from {} sampled permutations", text.empty() ? "" : ", ", exact > 0 ? "the others" : "all",
                            fewest == most ? fmt::to_string(most) : fmt::format("{}-{}", fewest, most));
    return text;
}

// The Holm families of an association table, in words.
std::string families_text(const std::vector<StudyAssociationRow>& associations) {
    std::map<std::string, int64_t> sizes;
    int64_t depth_duplicates = 0, constant_controls = 0;
    for (const StudyAssociationRow& row : associations) {
        sizes[row.family] = row.family_size;
        if (row.duplicate_of.empty()) continue;
        (row.controlling.empty() ? depth_duplicates : constant_controls) += 1;
    }
    std::vector<std::string> parts;
    for (const auto& [family, size] : sizes)
        parts.push_back(family == "trained" ? fmt::format("the trained metrics' m = {} tests", size)
                                            : fmt::format("the {}' m = {} tests among themselves", family, size));
    std::string text = fmt::format("{}", fmt::join(parts, " and "));
    std::vector<std::string> repeats;
    if (depth_duplicates > 0)
        repeats.push_back(fmt::format("{} depth rows repeat their width rows, the cells' width and depth ranks "
                                      "coinciding",
                                      depth_duplicates));
    if (constant_controls > 0)
        repeats.push_back(fmt::format("{} partial rows repeat their plain rows, the control being constant",
                                      constant_controls));
    if (!repeats.empty()) text += fmt::format(" ({}; each counted once)", fmt::join(repeats, "; "));
    return text;
}

}  // namespace

std::string format_verdict_table(const std::vector<StudyAssociationRow>& associations,
                                 const StudyStatistics& statistics) {
    std::string table;
    std::string population;
    for (const StudyAssociationRow& row : associations) {
        if (row.predictor != "normal_width" || !row.controlling.empty()) continue;
        if (table.empty() || row.population != population) {
            population = row.population;
            table += fmt::format("{}population {} ({} cells):\n", table.empty() ? "" : "\n", population,
                                 row.association.cells);
            table += fmt::format("{:<20} {:>5} {:>23} {:>8} {:>8} {:>8} {:>6} {:>23} {:>7}  {}\n", "metric vs width",
                                 "epoch", "rho [95% interval]", "p", "p_holm", "min|rho|",
                                 fmt::format("±{:g}", statistics.equivalence_bound), "rho, depth held fixed", "paper",
                                 "verdict");
        }
        const StudyAssociationRow* partial = nullptr;
        for (const auto& other : associations)
            if (other.epoch == row.epoch && other.population == row.population && other.metric == row.metric &&
                other.predictor == row.predictor && !other.controlling.empty())
                partial = &other;
        const char* expected = row.expected_sign > 0 ? "higher" : row.expected_sign < 0 ? "lower" : "-";
        table += fmt::format("{:<20} {:>5} {:>23} {:>8} {:>8} {:>8} {:>6} {:>23} {:>7}  {}\n", row.metric, row.epoch,
                             rho_with_interval(row.association), p_value_text(row.association.p_value),
                             p_value_text(row.p_holm), number(row.min_detectable_rho, "{:.2f}"),
                             equivalence_mark(row.equivalence),
                             partial ? rho_with_interval(partial->association) : std::string("-"), expected,
                             row.verdict);
    }
    if (table.empty()) return table;
    double power_alpha = NAN;
    bool degenerate = false;
    for (const StudyAssociationRow& row : associations) {
        if (row.family == "trained") power_alpha = row.power_alpha;
        degenerate = degenerate || row.association.degenerate_interval;
    }
    table += fmt::format(
        "p: two-sided permutation test, {}; p_holm: Holm within {}; verdicts need p_holm < {} and the interval off 0. "
        "min|rho|: the smallest noise-free |rho| detected with {:.0f}% power at Holm's first step, p < alpha / m "
        "(= {} for the trained metrics); -: none (the associations table's power_note says why: too few cells, one "
        "seed per cell, or cells that differ no more than their seeds, which a study cannot plan from). ±{}: \"inside\" "
        "when the interval rules out a noise-free |rho| of {} (the bound attenuated by the seeds' noise at the upper "
        "end of the noise ratio's 95% interval: \"equivalent\"), \"noisy\" when that end is infinite (the seeds could "
        "hide any effect).{}\n",
        permutations_text(associations), families_text(associations), statistics.alpha, 100 * statistics.power,
        number(power_alpha, "{:.2g}"), statistics.equivalence_bound, statistics.equivalence_bound,
        degenerate ? " *: every bootstrap resample gave the same rho: the interval is a point and says nothing of the "
                     "uncertainty."
                   : "");
    return table;
}

std::string format_convergence_associations(const std::vector<StudyMetricAssociationRow>& associations) {
    std::string table;
    for (const StudyMetricAssociationRow& row : associations) {
        const bool with_convergence = row.metric == "epochs_to_threshold" || row.other == "epochs_to_threshold";
        if (!with_convergence) continue;
        if (table.empty())
            table = fmt::format("{:<20} {:<20} {:>5} {:>22} {:>8} {:>8} {:>6}\n", "population", "metric", "epoch",
                                "rho [95% interval]", "p", "p_holm", "cells");
        const std::string& metric = row.metric == "epochs_to_threshold" ? row.other : row.metric;
        table += fmt::format("{:<20} {:<20} {:>5} {:>22} {:>8} {:>8} {:>6}\n", row.population, metric, row.epoch,
                             rho_with_interval(row.association), p_value_text(row.association.p_value),
                             p_value_text(row.p_holm), row.association.cells);
    }
    return table;
}

std::string format_mediation_table(const std::vector<StudyMediationRow>& mediation) {
    if (mediation.empty()) return {};
    std::string table = fmt::format("{:<20} {:<18} {:>5} {:>6} {:>6} {:>24} {:>22} {:>6} {:>8} {:>8}  {}\n",
                                    "population", "mediator", "epoch", "a", "b", "indirect a*b [95%]",
                                    "proportion [95%]", "total", "p", "p_holm", "verdict");
    for (const StudyMediationRow& row : mediation) {
        const Mediation& m = row.mediation;
        const std::string indirect =
            std::isfinite(m.indirect)
                ? fmt::format("{:+.3f} [{}, {}]", m.indirect, number(m.low, "{:+.3f}"), number(m.high, "{:+.3f}"))
                : std::string("-");
        const std::string proportion =
            std::isfinite(m.proportion) ? fmt::format("{:+.2f} [{}, {}]", m.proportion, number(m.proportion_low, "{:+.2f}"),
                                                      number(m.proportion_high, "{:+.2f}"))
                                        : std::string("-");
        // The verdict "too few cells" says with its numbers what the first note says.
        std::string verdict = row.verdict, notes = row.notes;
        if (m.too_few_cells) {
            verdict = fmt::format("too few cells ({} < {})", m.cells, m.minimum_cells);
            const auto rest = notes.find("; ");
            notes = rest == std::string::npos ? "" : notes.substr(rest + 2);
        }
        table += fmt::format("{:<20} {:<18} {:>5} {:>6} {:>6} {:>24} {:>22} {:>6} {:>8} {:>8}  {}{}\n",
                             row.population, row.mediator, row.epoch, number(m.a, "{:+.2f}"), number(m.b, "{:+.2f}"),
                             indirect, proportion, number(m.total, "{:+.2f}"), p_value_text(m.p_value),
                             p_value_text(row.p_holm), verdict, notes.empty() ? "" : " (" + notes + ")");
    }
    table += "p: the joint significance test (the larger of the permutation p-values of a and of b, the latter by "
             "Freedman and Lane's residual permutation); p_holm: Holm over the table's trained mediators (the proxies "
             "among themselves); \"carries\": p_holm < alpha and the interval of a*b off 0 on the total's side "
             "(\"opposes\": on the other side). The proportion's interval is given only where the total's excludes 0. "
             "An association across cells, measured after training: not a proven cause.\n";
    return table;
}

std::string format_replicates_table(std::vector<StudyRow> rows) {
    std::stable_sort(rows.begin(), rows.end(), [](const StudyRow& a, const StudyRow& b) {
        return a.normal_width != b.normal_width ? a.normal_width < b.normal_width : a.epoch < b.epoch;
    });
    std::string table =
        fmt::format("{:<34} {:>5} {:>6} {:>5} {:>5} {:>9} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10} {:>7}\n",
                    "cell", "seed", "width", "depth", "epoch", "params", "train loss", "test loss", "test acc",
                    "epochs<=t", "top eig", "trace", "grad var", "basin");
    for (const StudyRow& row : rows) {
        if (row.status != "ok") {
            table += fmt::format("{:<34} {:>5} {:>6} {:>5}   {}\n", row.cell, row.seed, format_width(row.normal_width),
                                 row.normal_depth, row.status);
            continue;
        }
        table += fmt::format(
            "{:<34} {:>5} {:>6} {:>5} {:>5} {:>9} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10} {:>7}\n", row.cell,
            row.seed, format_width(row.normal_width), row.normal_depth, row.epoch, row.parameters,
            number(row.train_loss, "{:.4f}"), number(row.test_loss, "{:.4f}"), number(row.test_accuracy, "{:.4f}"),
            number(row.epochs_to_threshold, "{:.2f}"), number(row.top_eigenvalue, "{:.4g}"),
            number(row.trace, "{:.4g}"), number(row.gradient_variance, "{:.4g}"), number(row.basin_fraction, "{:.3f}"));
    }
    return table;
}

}  // namespace cellscape
