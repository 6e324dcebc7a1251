#include "cellscape/study/study_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string_view>

#include "cellscape/cells/metrics.hpp"
#include "cellscape/study/power.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {
namespace {

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

// Each group's finished replicates' values of a column (empty for a cell
// without finished replicates).
std::vector<std::vector<double>> replicate_values(const std::vector<std::vector<const StudyRow*>>& groups,
                                                  double StudyRow::*field) {
    std::vector<std::vector<double>> values;
    for (const auto& group : groups) {
        values.emplace_back();
        for (const StudyRow* row : group)
            if (row->status == "ok") values.back().push_back(row->*field);
    }
    return values;
}

// The seeds of replicate_values' values, in the same places.
std::vector<std::vector<int64_t>> replicate_seeds(const std::vector<std::vector<const StudyRow*>>& groups) {
    std::vector<std::vector<int64_t>> seeds;
    for (const auto& group : groups) {
        seeds.emplace_back();
        for (const StudyRow* row : group)
            if (row->status == "ok") seeds.back().push_back(static_cast<int64_t>(row->seed));
    }
    return seeds;
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

// The smallest |rho| the row's design detects (power.hpp): its cells with
// a finite value, their seeds, and the metric's noise ratio among them
// (variance_components of the metric, the same for every row of it).
double row_min_detectable_rho(const std::vector<std::vector<double>>& replicates, double noise_ratio,
                              const std::vector<double>& predictor, const std::vector<double>& control,
                              const StudyStatistics& statistics) {
    RankTestDesign design;
    for (std::size_t c = 0; c < replicates.size(); ++c) {
        const auto finite = std::count_if(replicates[c].begin(), replicates[c].end(),
                                          [](double v) { return std::isfinite(v); });
        if (finite == 0) continue;
        design.predictor.push_back(predictor[c]);
        if (!control.empty()) design.control.push_back(control[c]);
        design.seeds.push_back(static_cast<int64_t>(finite));
    }
    design.noise_ratio = noise_ratio;
    if (design.predictor.size() < 3 || !std::isfinite(design.noise_ratio)) return NAN;
    PowerOptions options;
    options.alpha = statistics.alpha;
    options.simulations = statistics.power_simulations;
    options.null_simulations = std::max<int64_t>(2000, 2 * statistics.power_simulations);
    options.seed = statistics.seed;
    return minimum_detectable_rho(design, statistics.power, options);
}

std::string number(double value, const char* format) {
    return std::isfinite(value) ? fmt::format(fmt::runtime(format), value) : std::string("-");
}

// "0.412±0.021": the mean and the interval's half width (the mean alone for one replicate).
std::string mean_with_interval(const MeanInterval& interval) {
    if (interval.n == 0) return "-";
    if (!std::isfinite(interval.high)) return fmt::format("{:.4g}", interval.mean);
    return fmt::format("{:.4g}±{:.2g}", interval.mean, 0.5 * (interval.high - interval.low));
}

// A column of `get(row)` for every row.
template <typename Row, typename Get>
void add_column(StudyTable& table, const char* name, const std::vector<Row>& rows, Get get) {
    std::vector<std::decay_t<decltype(get(Row{}))>> values;
    for (const Row& row : rows) values.push_back(get(row));
    table.columns.emplace_back(name, std::move(values));
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

}  // namespace

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
                                const StudyStatistics& statistics) {
    if (expected_sign == 0) return "no claim";
    const double low = association.low * expected_sign, high = association.high * expected_sign;
    const bool significant = p_holm < statistics.alpha;
    if (significant && low > 0 && high > 0) return "holds";
    if (significant && low < 0 && high < 0) return "reversed";
    if (equivalence_outcome(association.low, association.high, statistics.equivalence_bound) == "equivalent")
        return "equivalent";
    return "undecided";
}

std::vector<StudyAssociationRow> associate_with_predictors(const std::vector<StudyRow>& rows,
                                                           const StudyStatistics& statistics) {
    std::vector<StudyAssociationRow> associations;
    const AssociationOptions options = association_options(statistics);
    for (int64_t epoch : epochs_of(rows)) {
        const auto all_groups = rows_by_cell(rows, epoch);
        for (const std::string& population : populations_of(all_groups)) {
            const auto groups = population_groups(all_groups, population);
            std::vector<double> width, depth;
            for (const auto& group : groups) {
                width.push_back(group.front()->normal_width);
                depth.push_back(static_cast<double>(group.front()->normal_depth));
            }
            const auto seeds = replicate_seeds(groups);
            for (const StudyMetric& metric : measured_metrics(rows)) {
                const auto replicates = replicate_values(groups, metric.field);
                const double noise_ratio = variance_components(replicates, seeds).noise_ratio();
                const struct {
                    const char* predictor;
                    const std::vector<double>& values;
                    const char* other;
                    const std::vector<double>& other_values;
                    int sign;
                } predictors[] = {{"normal_width", width, "normal_depth", depth, metric.sign_with_width},
                                  {"normal_depth", depth, "normal_width", width, -metric.sign_with_width}};
                for (const auto& p : predictors) {
                    if (!varies(p.values)) continue;  // e.g. random-ops controls: one width
                    for (const bool partial : {false, true}) {
                        StudyAssociationRow row;
                        row.epoch = epoch;
                        row.population = population;
                        row.metric = metric.name;
                        row.predictor = p.predictor;
                        row.controlling = partial ? p.other : "";
                        const std::vector<double> control = partial ? p.other_values : std::vector<double>{};
                        row.association = associate(replicates, p.values, control, options);
                        row.association.metric = metric.name;
                        row.association.predictor = p.predictor;
                        row.association.controlling = row.controlling;
                        row.min_detectable_rho =
                            row_min_detectable_rho(replicates, noise_ratio, p.values, control, statistics);
                        row.equivalence_bound = statistics.equivalence_bound;
                        row.equivalence = equivalence_outcome(row.association.low, row.association.high,
                                                              statistics.equivalence_bound);
                        row.expected_sign = p.sign;
                        associations.push_back(std::move(row));
                    }
                }
            }
        }
    }
    std::vector<double> p_values;
    std::vector<std::string> families;
    for (const auto& row : associations) {
        p_values.push_back(row.association.p_value);
        families.push_back(metric_family(row.metric));
    }
    const std::vector<double> adjusted = holm_within_families(p_values, families);
    for (std::size_t i = 0; i < associations.size(); ++i) {
        associations[i].p_holm = adjusted[i];
        associations[i].verdict =
            association_verdict(associations[i].association, adjusted[i], associations[i].expected_sign, statistics);
    }
    return associations;
}

std::vector<StudyMetricAssociationRow> associate_metric_pairs(const std::vector<StudyRow>& rows,
                                                              const StudyStatistics& statistics) {
    std::vector<StudyMetricAssociationRow> associations;
    const AssociationOptions options = association_options(statistics);
    const auto metrics = measured_metrics(rows);
    for (int64_t epoch : epochs_of(rows)) {
        const auto all_groups = rows_by_cell(rows, epoch);
        for (const std::string& population : populations_of(all_groups)) {
            const auto groups = population_groups(all_groups, population);
            // With fewer cells a rank correlation takes a handful of values
            // (4 cells: |rho| = 1 has p = 1/12) and only dilutes Holm's family.
            if (groups.size() < 5) continue;
            for (std::size_t i = 0; i < metrics.size(); ++i)
                for (std::size_t j = i + 1; j < metrics.size(); ++j) {
                    StudyMetricAssociationRow row;
                    row.epoch = epoch;
                    row.population = population;
                    row.metric = metrics[i].name;
                    row.other = metrics[j].name;
                    row.association = associate_paired(replicate_values(groups, metrics[i].field),
                                                       replicate_values(groups, metrics[j].field), options);
                    if (row.association.cells < 3) continue;  // a metric not measured in this study
                    associations.push_back(std::move(row));
                }
        }
    }
    // A pair with an optional family's metric is in that family (a proxy
    // against a trained metric is a question about the proxy).
    std::vector<double> p_values;
    std::vector<std::string> families;
    for (const auto& row : associations) {
        p_values.push_back(row.association.p_value);
        const std::string family = metric_family(row.metric);
        families.push_back(family.empty() ? metric_family(row.other) : family);
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
    std::vector<StudyMediationRow> mediation;
    const AssociationOptions options = association_options(statistics);
    for (int64_t epoch : epochs_of(rows)) {
        const auto all_groups = rows_by_cell(rows, epoch);
        for (const std::string& population : populations_of(all_groups)) {
            const auto groups = population_groups(all_groups, population);
            std::vector<double> width;
            for (const auto& group : groups) width.push_back(group.front()->normal_width);
            if (groups.size() < 4 || !varies(width)) continue;
            const auto outcome = replicate_values(groups, &StudyRow::epochs_to_threshold);
            for (const std::string& mediator : mediators) {
                const auto& metric = study_metrics()[metric_index(mediator)];
                const auto values = replicate_values(groups, metric.field);
                std::vector<MediationCell> cells;
                for (std::size_t c = 0; c < groups.size(); ++c) cells.push_back({width[c], values[c], outcome[c]});
                StudyMediationRow row{epoch, population, "normal_width", "epochs_to_threshold", mediator,
                                      mediate(cells, options)};
                if (row.mediation.cells >= 4) mediation.push_back(std::move(row));
            }
        }
    }
    return mediation;
}

StudyTable replicates_table(const std::vector<StudyRow>& rows) {
    StudyTable table;
    auto column = [&](const char* name, auto field) {
        add_column(table, name, rows, [field](const StudyRow& row) { return row.*field; });
    };
    column("cell", &StudyRow::cell);
    column("genotype", &StudyRow::genotype);
    column("status", &StudyRow::status);
    column("directory", &StudyRow::directory);
    column("population", &StudyRow::population);
    column("seed", &StudyRow::seed);
    column("normal_width", &StudyRow::normal_width);
    column("normal_depth", &StudyRow::normal_depth);
    column("reduce_width", &StudyRow::reduce_width);
    column("reduce_depth", &StudyRow::reduce_depth);
    column("parameters", &StudyRow::parameters);
    column("epoch", &StudyRow::epoch);
    for (const StudyMetric& metric : measured_metrics(rows)) column(metric.name, metric.field);
    column("censored", &StudyRow::censored);
    column("last_epoch_share", &StudyRow::last_epoch_share);
    column("train_seconds", &StudyRow::train_seconds);
    column("analysis_seconds", &StudyRow::analysis_seconds);
    return table;
}

StudyTable parts_table(const std::vector<StudyPartRow>& parts) {
    StudyTable table;
    auto column = [&](const char* name, auto field) {
        add_column(table, name, parts, [field](const StudyPartRow& row) { return row.*field; });
    };
    column("cell", &StudyPartRow::cell);
    column("directory", &StudyPartRow::directory);
    column("population", &StudyPartRow::population);
    column("seed", &StudyPartRow::seed);
    column("epoch", &StudyPartRow::epoch);
    column("part", &StudyPartRow::part);
    column("parameters", &StudyPartRow::parameters);
    column("top_eigenvalue", &StudyPartRow::top_eigenvalue);
    column("trace", &StudyPartRow::trace);
    column("trace_stderr", &StudyPartRow::trace_stderr);
    column("gradient_variance", &StudyPartRow::gradient_variance);
    column("gradient_norm", &StudyPartRow::gradient_norm);
    return table;
}

StudyTable cells_table(const std::vector<StudyCellRow>& cells) {
    StudyTable table;
    auto column = [&](const char* name, auto get) { add_column(table, name, cells, get); };
    column("cell", [](const StudyCellRow& c) { return c.cell; });
    column("genotype", [](const StudyCellRow& c) { return c.genotype; });
    column("directory", [](const StudyCellRow& c) { return c.directory; });
    column("population", [](const StudyCellRow& c) { return c.population; });
    column("normal_width", [](const StudyCellRow& c) { return c.normal_width; });
    column("normal_depth", [](const StudyCellRow& c) { return c.normal_depth; });
    column("reduce_width", [](const StudyCellRow& c) { return c.reduce_width; });
    column("reduce_depth", [](const StudyCellRow& c) { return c.reduce_depth; });
    column("parameters", [](const StudyCellRow& c) { return c.parameters; });
    column("epoch", [](const StudyCellRow& c) { return c.epoch; });
    column("n", [](const StudyCellRow& c) { return c.n; });
    column("censored", [](const StudyCellRow& c) { return c.censored; });
    const auto& metrics = study_metrics();
    for (std::size_t m = 0; m < metrics.size(); ++m) {
        // An optional family's metric no cell measured has no columns (as in replicates_table).
        if (metrics[m].optional() &&
            std::none_of(cells.begin(), cells.end(),
                         [&](const StudyCellRow& cell) { return std::isfinite(cell.metrics.at(m).mean); }))
            continue;
        const struct {
            const char* suffix;
            double MeanInterval::*field;
        } parts[] = {{"mean", &MeanInterval::mean}, {"std", &MeanInterval::std},
                     {"ci_low", &MeanInterval::low}, {"ci_high", &MeanInterval::high}};
        for (const auto& part : parts) {
            std::vector<double> values;
            for (const auto& cell : cells) values.push_back(cell.metrics.at(m).*part.field);
            table.columns.emplace_back(fmt::format("{}_{}", metrics[m].name, part.suffix), values);
        }
    }
    return table;
}

namespace {

// A rank association's columns, with its Holm-adjusted p, of any row that has them.
template <typename Row>
void add_association_columns(StudyTable& table, const std::vector<Row>& rows) {
    auto column = [&](const char* name, auto get) { add_column(table, name, rows, get); };
    column("spearman_rho", [](const Row& r) { return r.association.rho; });
    column("ci_low", [](const Row& r) { return r.association.low; });
    column("ci_high", [](const Row& r) { return r.association.high; });
    column("p_value", [](const Row& r) { return r.association.p_value; });
    column("p_holm", [](const Row& r) { return r.p_holm; });
    column("n_cells", [](const Row& r) { return r.association.cells; });
}

}  // namespace

StudyTable associations_table(const std::vector<StudyAssociationRow>& associations) {
    StudyTable table;
    auto column = [&](const char* name, auto get) { add_column(table, name, associations, get); };
    using Row = StudyAssociationRow;
    column("epoch", [](const Row& r) { return r.epoch; });
    column("population", [](const Row& r) { return r.population; });
    column("metric", [](const Row& r) { return r.metric; });
    column("predictor", [](const Row& r) { return r.predictor; });
    column("controlling", [](const Row& r) { return r.controlling; });
    add_association_columns(table, associations);
    column("min_detectable_rho", [](const Row& r) { return r.min_detectable_rho; });
    column("equivalence_bound", [](const Row& r) { return r.equivalence_bound; });
    column("equivalence", [](const Row& r) { return r.equivalence; });
    column("expected_sign", [](const Row& r) { return static_cast<int64_t>(r.expected_sign); });
    column("verdict", [](const Row& r) { return r.verdict; });
    return table;
}

StudyTable metric_associations_table(const std::vector<StudyMetricAssociationRow>& associations) {
    StudyTable table;
    auto column = [&](const char* name, auto get) { add_column(table, name, associations, get); };
    using Row = StudyMetricAssociationRow;
    column("epoch", [](const Row& r) { return r.epoch; });
    column("population", [](const Row& r) { return r.population; });
    column("metric", [](const Row& r) { return r.metric; });
    column("other_metric", [](const Row& r) { return r.other; });
    add_association_columns(table, associations);
    return table;
}

StudyTable mediation_table(const std::vector<StudyMediationRow>& mediation) {
    StudyTable table;
    auto column = [&](const char* name, auto get) { add_column(table, name, mediation, get); };
    using Row = StudyMediationRow;
    column("epoch", [](const Row& r) { return r.epoch; });
    column("population", [](const Row& r) { return r.population; });
    column("predictor", [](const Row& r) { return r.predictor; });
    column("outcome", [](const Row& r) { return r.outcome; });
    column("mediator", [](const Row& r) { return r.mediator; });
    column("total", [](const Row& r) { return r.mediation.total; });
    column("a", [](const Row& r) { return r.mediation.a; });
    column("b", [](const Row& r) { return r.mediation.b; });
    column("direct", [](const Row& r) { return r.mediation.direct; });
    column("indirect", [](const Row& r) { return r.mediation.indirect; });
    column("ci_low", [](const Row& r) { return r.mediation.low; });
    column("ci_high", [](const Row& r) { return r.mediation.high; });
    column("proportion", [](const Row& r) { return r.mediation.proportion; });
    column("n_cells", [](const Row& r) { return r.mediation.cells; });
    return table;
}

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

std::string rho_with_interval(const Association& a) {
    return std::isfinite(a.rho)
               ? fmt::format("{:+.2f} [{}, {}]", a.rho, number(a.low, "{:+.2f}"), number(a.high, "{:+.2f}"))
               : std::string("-");
}

// "p < 0.001" style p-values, as far as the permutations resolve them.
std::string p_value_text(double p) {
    return std::isfinite(p) ? (p < 0.001 ? fmt::format("{:.1e}", p) : fmt::format("{:.3f}", p)) : std::string("-");
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
            table += fmt::format("{:<20} {:>5} {:>22} {:>8} {:>8} {:>8} {:>6} {:>22} {:>7}  {}\n", "metric vs width",
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
        const char* inside = row.equivalence == "equivalent" ? "inside" : row.equivalence == "not equivalent" ? "no" : "-";
        table += fmt::format("{:<20} {:>5} {:>22} {:>8} {:>8} {:>8} {:>6} {:>22} {:>7}  {}\n", row.metric, row.epoch,
                             rho_with_interval(row.association), p_value_text(row.association.p_value),
                             p_value_text(row.p_holm), number(row.min_detectable_rho, "{:.2f}"), inside,
                             partial ? rho_with_interval(partial->association) : std::string("-"), expected,
                             row.verdict);
    }
    const auto optional_rows = std::count_if(associations.begin(), associations.end(),
                                             [](const auto& row) { return !metric_family(row.metric).empty(); });
    const std::string families =
        optional_rows == 0
            ? fmt::format("all {} rows of the associations table", associations.size())
            : fmt::format("the {} rows of the trained metrics (the {} rows of the zero-cost proxies among themselves)",
                          associations.size() - static_cast<std::size_t>(optional_rows), optional_rows);
    if (!table.empty())
        table += fmt::format(
            "p_holm: Holm over {}; verdicts need p_holm < {} and the interval off 0; "
            "±{}: \"inside\" when the interval lies inside ±{} (\"equivalent\": no effect that large); min|rho|: the "
            "smallest |rho| detected with {:.0f}% power at p < {} (-: none, e.g. the cells differ no more than their "
            "seeds, or one seed per cell)\n",
            families, statistics.alpha, statistics.equivalence_bound, statistics.equivalence_bound,
            100 * statistics.power, statistics.alpha);
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
    std::string table = fmt::format("{:<20} {:<18} {:>5} {:>7} {:>7} {:>24} {:>10} {:>7} {:>7}\n", "population",
                                    "mediator", "epoch", "a", "b", "indirect a*b [95%]", "proportion", "total",
                                    "direct");
    for (const StudyMediationRow& row : mediation) {
        const Mediation& m = row.mediation;
        const std::string indirect =
            std::isfinite(m.indirect)
                ? fmt::format("{:+.3f} [{}, {}]", m.indirect, number(m.low, "{:+.3f}"), number(m.high, "{:+.3f}"))
                : std::string("-");
        table += fmt::format("{:<20} {:<18} {:>5} {:>7} {:>7} {:>24} {:>10} {:>7} {:>7}\n", row.population,
                             row.mediator, row.epoch, number(m.a, "{:+.2f}"), number(m.b, "{:+.2f}"), indirect,
                             number(m.proportion, "{:.2f}"), number(m.total, "{:+.2f}"), number(m.direct, "{:+.2f}"));
    }
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
