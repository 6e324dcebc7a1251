#include "cellscape/study/study_tables.hpp"

#include "cellscape/study/detail/study_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "cellscape/cells/metrics.hpp"
#include "cellscape/stats/power.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {

namespace study_detail {


// The rows of one epoch grouped by cell, in the order cells first appear.
std::vector<std::vector<const StudyRow*>> rows_by_cell(const std::vector<StudyRow>& rows, int64_t epoch) {
    std::vector<std::vector<const StudyRow*>> groups;
    std::map<std::string, std::size_t> index;
    for (const StudyRow& row : rows) {
        // A failed replicate has one row, epoch 0: it belongs to every epoch.
        const bool failed_everywhere = row.status != "ok" && row.epoch == 0;
        if (row.epoch != epoch && !failed_everywhere) continue;
        const auto [found, added] = index.emplace(row.cell, groups.size());
        if (added) groups.emplace_back();
        groups[found->second].push_back(&row);
    }
    return groups;
}

// The analysis epochs the rows hold, in order (failed rows carry none).
std::vector<int64_t> epochs_of(const std::vector<StudyRow>& rows) {
    std::set<int64_t> epochs;
    for (const StudyRow& row : rows)
        if (row.status == "ok") epochs.insert(row.epoch);
    return {epochs.begin(), epochs.end()};
}

// The cell groups of one population, in the order they appear.
std::vector<std::vector<const StudyRow*>> population_groups(const std::vector<std::vector<const StudyRow*>>& groups,
                                                            const std::string& population) {
    std::vector<std::vector<const StudyRow*>> selected;
    for (const auto& group : groups)
        if (group.front()->population == population) selected.push_back(group);
    return selected;
}

// The populations of the groups, in the order they first appear.
std::vector<std::string> populations_of(const std::vector<std::vector<const StudyRow*>>& groups) {
    std::vector<std::string> populations;
    for (const auto& group : groups)
        if (std::find(populations.begin(), populations.end(), group.front()->population) == populations.end())
            populations.push_back(group.front()->population);
    return populations;
}

bool varies(const std::vector<double>& values) {
    return std::any_of(values.begin(), values.end(), [&](double v) { return v != values.front(); });
}

AssociationOptions association_options(const StudyStatistics& statistics) {
    AssociationOptions options;
    options.bootstrap_samples = statistics.bootstrap_samples;
    options.permutations = statistics.permutations;
    options.seed = statistics.seed;
    return options;
}

PowerOptions power_options(const StudyStatistics& statistics, double alpha) {
    PowerOptions options;
    options.alpha = alpha;
    options.simulations = statistics.power_simulations;
    options.null_simulations = std::max<int64_t>(2000, 2 * statistics.power_simulations);
    options.seed = statistics.seed;
    return options;
}

// The permutations a family of m tests needs: enough that the smallest p
// a sampled test can give, 1 / (permutations + 1), times m stays 20 times
// below alpha (so Holm can decide every row), and never fewer than asked.
int64_t family_permutations(const StudyStatistics& statistics, int64_t family_size) {
    const auto needed = static_cast<int64_t>(std::ceil(20.0 * static_cast<double>(family_size) / statistics.alpha));
    return std::max(statistics.permutations, needed);
}



std::size_t metric_index(const std::string& name) {
    const auto& metrics = study_metrics();
    for (std::size_t i = 0; i < metrics.size(); ++i)
        if (metrics[i].name == name) return i;
    return metrics.size();
}

// Holm's adjustment within each family: p_values[i] belongs to families[i].
std::vector<double> holm_within_families(const std::vector<double>& p_values, const std::vector<std::string>& families) {
    std::vector<double> adjusted(p_values.size(), NAN);
    std::map<std::string, std::vector<std::size_t>> members;
    for (std::size_t i = 0; i < p_values.size(); ++i) members[families[i]].push_back(i);
    for (const auto& [family, indices] : members) {
        std::vector<double> family_p;
        for (std::size_t i : indices) family_p.push_back(p_values[i]);
        const std::vector<double> family_adjusted = holm_adjusted(family_p);
        for (std::size_t k = 0; k < indices.size(); ++k) adjusted[indices[k]] = family_adjusted[k];
    }
    return adjusted;
}

}  // namespace study_detail

using namespace study_detail;

double epochs_to_threshold(const std::vector<double>& step_losses, int64_t steps_per_epoch, double threshold) {
    if (steps_per_epoch < 1) return NAN;
    const auto per_epoch = static_cast<std::size_t>(steps_per_epoch);
    const std::size_t window = std::max<std::size_t>(1, per_epoch / 4);
    double window_sum = 0;
    for (std::size_t step = 0; step < step_losses.size(); ++step) {
        window_sum += step_losses[step] - (step >= window ? step_losses[step - window] : 0.0);
        if (step + 1 >= window && window_sum / static_cast<double>(window) <= threshold)
            return static_cast<double>(step + 1) / static_cast<double>(per_epoch);
    }
    return NAN;
}

ConvergenceTime convergence_time(const std::vector<double>& step_losses, int64_t steps_per_epoch, double threshold) {
    ConvergenceTime result;
    if (steps_per_epoch < 1) return result;
    result.epochs = epochs_to_threshold(step_losses, steps_per_epoch, threshold);
    if (std::isnan(result.epochs)) {
        result.epochs = static_cast<double>(step_losses.size() + 1) / static_cast<double>(steps_per_epoch);
        result.censored = true;
    }
    return result;
}

const std::vector<StudyMetric>& study_metrics() {
    static const std::vector<StudyMetric> metrics = {
        {"train_loss", &StudyRow::train_loss, -1},
        {"train_acc", &StudyRow::train_accuracy, +1},
        {"test_loss", &StudyRow::test_loss, 0},
        {"test_acc", &StudyRow::test_accuracy, 0},
        {"epochs_to_threshold", &StudyRow::epochs_to_threshold, -1},
        {"top_eigenvalue", &StudyRow::top_eigenvalue, -1},
        {"trace", &StudyRow::trace, -1},
        {"gradient_variance", &StudyRow::gradient_variance, -1},
        {"noise_scale", &StudyRow::noise_scale, -1},
        {"basin_fraction", &StudyRow::basin_fraction, +1},
        {"basin_radius", &StudyRow::basin_radius, +1},
        // The paper claims nothing about the proxies: their rows say "no
        // claim", with rho, its interval and p (docs/findings.md reads them).
        {"grad_norm", &StudyRow::grad_norm, 0, proxies_family},
        {"snip", &StudyRow::snip, 0, proxies_family},
        {"grasp", &StudyRow::grasp, 0, proxies_family},
        {"fisher", &StudyRow::fisher, 0, proxies_family},
        {"synflow", &StudyRow::synflow, 0, proxies_family},
        {"jacob_cov", &StudyRow::jacob_cov, 0, proxies_family},
        {"naswot", &StudyRow::naswot, 0, proxies_family},
        {"zico", &StudyRow::zico, 0, proxies_family},
    };
    return metrics;
}

std::vector<StudyMetric> measured_metrics(const std::vector<StudyRow>& rows) {
    std::vector<StudyMetric> measured;
    for (const StudyMetric& metric : study_metrics())
        if (!metric.optional() ||
            std::any_of(rows.begin(), rows.end(), [&](const StudyRow& row) { return std::isfinite(row.*metric.field); }))
            measured.push_back(metric);
    return measured;
}

std::string metric_family(const std::string& name) {
    for (const StudyMetric& metric : study_metrics())
        if (name == metric.name) return metric.family;
    return "";
}

CellReplicates rank_test_values(const std::vector<std::vector<const StudyRow*>>& cells, const StudyMetric& metric) {
    CellReplicates result;
    std::vector<const StudyRow*> finished;
    for (const auto& group : cells) {
        result.values.emplace_back();
        result.seeds.emplace_back();
        for (const StudyRow* row : group)
            if (row->status == "ok") {
                result.values.back().push_back(row->*metric.field);
                result.seeds.back().push_back(row->seed);
                finished.push_back(row);
            }
    }
    if (metric.field != &StudyRow::epochs_to_threshold) return result;
    std::vector<double> times;
    std::vector<bool> censored;
    for (const StudyRow* row : finished)
        if (std::isfinite(row->epochs_to_threshold)) {
            times.push_back(row->epochs_to_threshold);
            censored.push_back(row->censored != 0);
        }
    const std::vector<double> scores = gehan_scores(times, censored);
    std::size_t next = 0;
    for (auto& values : result.values)
        for (double& value : values)
            if (std::isfinite(value)) value = scores[next++];
    return result;
}

std::vector<StudyCellRow> summarize_cells(const std::vector<StudyRow>& rows) {
    std::vector<StudyCellRow> cells;
    for (int64_t epoch : epochs_of(rows))
        for (const auto& group : rows_by_cell(rows, epoch)) {
            StudyCellRow cell;
            const StudyRow& first = *group.front();
            cell.cell = first.cell;
            cell.genotype = first.genotype;
            cell.population = first.population;
            const auto slash = first.directory.find('/');
            cell.directory = first.directory.substr(0, slash);
            cell.normal_width = first.normal_width;
            cell.normal_depth = first.normal_depth;
            cell.reduce_width = first.reduce_width;
            cell.reduce_depth = first.reduce_depth;
            cell.epoch = epoch;
            std::vector<const StudyRow*> finished;
            for (const StudyRow* row : group)
                if (row->status == "ok") finished.push_back(row);
            cell.n = static_cast<int64_t>(finished.size());
            for (const StudyRow* row : finished) cell.censored += row->censored;
            if (!finished.empty()) cell.parameters = finished.front()->parameters;
            for (const StudyMetric& metric : study_metrics()) {
                std::vector<double> values;
                for (const StudyRow* row : finished) values.push_back(row->*metric.field);
                cell.metrics.push_back(mean_interval(values));
            }
            cells.push_back(std::move(cell));
        }
    return cells;
}

void StudyStatistics::validate() const {
    if (!(alpha > 0 && alpha < 1)) throw SettingError("alpha", fmt::format("must be between 0 and 1 (got {})", alpha));
    if (!(power > alpha && power < 1))
        throw SettingError("power", fmt::format("must be between alpha ({}) and 1 (got {})", alpha, power));
    if (!(equivalence_bound > 0 && equivalence_bound < 1))
        throw SettingError("equivalence_bound",
                           fmt::format("must be between 0 and 1, a |rho| (got {}); 0.2 is the default", equivalence_bound));
    const std::pair<const char*, int64_t> counts[] = {{"bootstrap_samples", bootstrap_samples},
                                                      {"permutations", permutations},
                                                      {"power_simulations", power_simulations}};
    for (const auto& [name, count] : counts)
        if (count < 100 || count > 10000000)
            throw SettingError(name, fmt::format("must be between 100 and 10000000 (got {})", count));
}

std::string association_verdict(const Association& association, double p_holm, int expected_sign,
                                const std::string& equivalence, const StudyStatistics& statistics) {
    if (expected_sign == 0) return "no claim";
    const double low = association.low * expected_sign, high = association.high * expected_sign;
    const bool significant = p_holm < statistics.alpha;
    if (significant && low > 0 && high > 0) return "holds";
    if (significant && low < 0 && high < 0) return "reversed";
    if (equivalence == "equivalent") return "equivalent";
    return "undecided";
}

std::string equivalence_test(const Association& association, double observed_bound) {
    if (!std::isfinite(association.low) || !std::isfinite(association.high)) return "no interval";
    if (std::isnan(observed_bound)) return "noise unknown";
    if (!(observed_bound > 0)) return "seeds too noisy";
    return equivalence_outcome(association.low, association.high, observed_bound);
}

std::string mediation_verdict(const Mediation& mediation, double p_holm, const StudyStatistics& statistics) {
    if (mediation.too_few_cells) return "too few cells";
    if (!(p_holm < statistics.alpha) || !std::isfinite(mediation.total)) return "undecided";
    const double low = mediation.low * (mediation.total < 0 ? -1 : 1),
                 high = mediation.high * (mediation.total < 0 ? -1 : 1);
    if (low > 0 && high > 0) return "carries";
    if (low < 0 && high < 0) return "opposes";
    return "undecided";
}

std::string holm_family(const std::string& metric) {
    const std::string family = metric_family(metric);
    return family.empty() ? "trained" : family;
}


std::vector<StudyMetricAssociationRow> associate_metric_pairs(const std::vector<StudyRow>& rows,
                                                              const StudyStatistics& statistics) {
    struct Pair {
        StudyMetricAssociationRow row;
        std::vector<std::vector<double>> metric, other;
    };
    std::vector<Pair> pairs;
    const auto metrics = measured_metrics(rows);
    for (int64_t epoch : epochs_of(rows)) {
        const auto all_groups = rows_by_cell(rows, epoch);
        for (const std::string& population : populations_of(all_groups)) {
            const auto groups = population_groups(all_groups, population);
            // With fewer cells a rank correlation takes a handful of values
            // (4 cells: |rho| = 1 has p = 1/12) and only dilutes Holm's family.
            if (groups.size() < 5) continue;
            std::vector<CellReplicates> values;
            for (const StudyMetric& metric : metrics) values.push_back(rank_test_values(groups, metric));
            for (std::size_t i = 0; i < metrics.size(); ++i)
                for (std::size_t j = i + 1; j < metrics.size(); ++j) {
                    Pair pair{{}, values[i].values, values[j].values};
                    StudyMetricAssociationRow& row = pair.row;
                    row.epoch = epoch;
                    row.population = population;
                    row.metric = metrics[i].name;
                    row.other = metrics[j].name;
                    // A pair with an optional family's metric is in that family
                    // (a proxy against a trained metric is a question about the proxy).
                    const std::string family = metric_family(row.metric);
                    row.family = holm_family(family.empty() ? row.other : row.metric);
                    row.association = paired_association_estimate(pair.metric, pair.other);
                    if (row.association.cells < 3) continue;  // a metric not measured in this study
                    pairs.push_back(std::move(pair));
                }
        }
    }
    std::vector<StudyMetricAssociationRow> associations;
    for (const Pair& pair : pairs) associations.push_back(pair.row);
    const std::map<std::string, int64_t> sizes = family_sizes(associations);
    AssociationOptions options = association_options(statistics);
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        if (!std::isfinite(associations[i].association.rho)) continue;
        options.permutations = family_permutations(statistics, sizes.at(associations[i].family));
        associations[i].association = associate_paired(pairs[i].metric, pairs[i].other, options);
    }
    std::vector<double> p_values;
    std::vector<std::string> families;
    for (const auto& row : associations) {
        p_values.push_back(row.association.p_value);
        families.push_back(row.family);
    }
    const std::vector<double> adjusted = holm_within_families(p_values, families);
    for (std::size_t i = 0; i < associations.size(); ++i) associations[i].p_holm = adjusted[i];
    return associations;
}

std::vector<StudyMediationRow> mediate_convergence(const std::vector<StudyRow>& rows,
                                                   const StudyStatistics& statistics) {
    // The landscape and noise metrics, and the optional families' (the
    // proxies: b is their association with convergence with width held
    // fixed). A mediator no cell measured gets no row (fewer than 4 cells).
    std::vector<std::string> mediators{"top_eigenvalue", "trace", "gradient_variance",
                                       "noise_scale", "basin_fraction", "basin_radius"};
    for (const StudyMetric& metric : study_metrics())
        if (metric.optional()) mediators.emplace_back(metric.name);
    std::vector<std::pair<StudyMediationRow, std::vector<MediationCell>>> planned;
    for (int64_t epoch : epochs_of(rows)) {
        const auto all_groups = rows_by_cell(rows, epoch);
        for (const std::string& population : populations_of(all_groups)) {
            const auto groups = population_groups(all_groups, population);
            std::vector<double> width;
            for (const auto& group : groups) width.push_back(group.front()->normal_width);
            if (groups.size() < 4 || !varies(width)) continue;
            const auto outcome = rank_test_values(groups, study_metrics()[metric_index("epochs_to_threshold")]).values;
            for (const std::string& mediator : mediators) {
                const auto values = rank_test_values(groups, study_metrics()[metric_index(mediator)]).values;
                std::vector<MediationCell> cells;
                for (std::size_t c = 0; c < groups.size(); ++c) cells.push_back({width[c], values[c], outcome[c]});
                StudyMediationRow row{epoch, population, "normal_width", "epochs_to_threshold", mediator};
                row.family = holm_family(mediator);
                // The estimates alone first: the family's size sets the permutations.
                AssociationOptions estimate_only = association_options(statistics);
                row.mediation = mediate(cells, estimate_only, std::numeric_limits<int64_t>::max());
                if (row.mediation.cells >= 4) planned.emplace_back(std::move(row), std::move(cells));
            }
        }
    }
    std::map<std::string, int64_t> sizes;
    for (const auto& [row, cells] : planned)
        if (row.mediation.cells >= minimum_mediation_cells && std::isfinite(row.mediation.indirect)) ++sizes[row.family];
    std::vector<StudyMediationRow> mediation;
    AssociationOptions options = association_options(statistics);
    for (auto& [row, cells] : planned) {
        options.permutations = family_permutations(statistics, sizes.count(row.family) ? sizes.at(row.family) : 1);
        row.mediation = mediate(cells, options);
        mediation.push_back(std::move(row));
    }
    std::vector<double> p_values;
    std::vector<std::string> families;
    for (const auto& row : mediation) {
        p_values.push_back(row.mediation.p_value);
        families.push_back(row.family);
    }
    const std::vector<double> adjusted = holm_within_families(p_values, families);
    for (std::size_t i = 0; i < mediation.size(); ++i) {
        mediation[i].p_holm = adjusted[i];
        mediation[i].notes = mediation_notes(mediation[i].mediation);
        mediation[i].verdict = mediation_verdict(mediation[i].mediation, adjusted[i], statistics);
    }
    return mediation;
}

}  // namespace cellscape
