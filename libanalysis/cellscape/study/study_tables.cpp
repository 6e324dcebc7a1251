#include "cellscape/study/study_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "cellscape/cells/metrics.hpp"

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

}  // namespace

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
    };
    return metrics;
}

std::vector<StudyCellRow> summarize_cells(const std::vector<StudyRow>& rows) {
    std::vector<StudyCellRow> cells;
    for (int64_t epoch : epochs_of(rows))
        for (const auto& group : rows_by_cell(rows, epoch)) {
            StudyCellRow cell;
            const StudyRow& first = *group.front();
            cell.cell = first.cell;
            cell.genotype = first.genotype;
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

std::string association_verdict(const Association& association, int expected_sign) {
    if (expected_sign == 0) return "no claim";
    const double low = association.low * expected_sign, high = association.high * expected_sign;
    const bool significant = association.p_value < 0.05;
    if (significant && low > 0 && high > 0) return "holds";
    if (significant && low < 0 && high < 0) return "reversed";
    return "undecided";
}

std::vector<StudyAssociationRow> associate_metrics(const std::vector<StudyRow>& rows,
                                                   const AssociationOptions& options) {
    std::vector<StudyAssociationRow> associations;
    for (int64_t epoch : epochs_of(rows)) {
        const auto groups = rows_by_cell(rows, epoch);
        std::vector<double> width, depth;
        for (const auto& group : groups) {
            width.push_back(group.front()->normal_width);
            depth.push_back(static_cast<double>(group.front()->normal_depth));
        }
        for (const StudyMetric& metric : study_metrics()) {
            std::vector<std::vector<double>> replicates;
            for (const auto& group : groups) {
                replicates.emplace_back();
                for (const StudyRow* row : group)
                    if (row->status == "ok") replicates.back().push_back(row->*metric.field);
            }
            const struct {
                const char* predictor;
                const std::vector<double>& values;
                const char* other;
                const std::vector<double>& other_values;
                int sign;
            } predictors[] = {{"normal_width", width, "normal_depth", depth, metric.sign_with_width},
                              {"normal_depth", depth, "normal_width", width, -metric.sign_with_width}};
            for (const auto& p : predictors)
                for (const bool partial : {false, true}) {
                    StudyAssociationRow row;
                    row.epoch = epoch;
                    row.metric = metric.name;
                    row.predictor = p.predictor;
                    row.controlling = partial ? p.other : "";
                    row.association = associate(replicates, p.values, partial ? p.other_values : std::vector<double>{},
                                                options);
                    row.association.metric = metric.name;
                    row.association.predictor = p.predictor;
                    row.association.controlling = row.controlling;
                    row.expected_sign = p.sign;
                    row.verdict = association_verdict(row.association, p.sign);
                    associations.push_back(std::move(row));
                }
        }
    }
    return associations;
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
    column("seed", &StudyRow::seed);
    column("normal_width", &StudyRow::normal_width);
    column("normal_depth", &StudyRow::normal_depth);
    column("reduce_width", &StudyRow::reduce_width);
    column("reduce_depth", &StudyRow::reduce_depth);
    column("parameters", &StudyRow::parameters);
    column("epoch", &StudyRow::epoch);
    for (const StudyMetric& metric : study_metrics()) column(metric.name, metric.field);
    return table;
}

StudyTable cells_table(const std::vector<StudyCellRow>& cells) {
    StudyTable table;
    auto column = [&](const char* name, auto get) { add_column(table, name, cells, get); };
    column("cell", [](const StudyCellRow& c) { return c.cell; });
    column("genotype", [](const StudyCellRow& c) { return c.genotype; });
    column("directory", [](const StudyCellRow& c) { return c.directory; });
    column("normal_width", [](const StudyCellRow& c) { return c.normal_width; });
    column("normal_depth", [](const StudyCellRow& c) { return c.normal_depth; });
    column("reduce_width", [](const StudyCellRow& c) { return c.reduce_width; });
    column("reduce_depth", [](const StudyCellRow& c) { return c.reduce_depth; });
    column("parameters", [](const StudyCellRow& c) { return c.parameters; });
    column("epoch", [](const StudyCellRow& c) { return c.epoch; });
    column("n", [](const StudyCellRow& c) { return c.n; });
    const auto& metrics = study_metrics();
    for (std::size_t m = 0; m < metrics.size(); ++m) {
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

StudyTable associations_table(const std::vector<StudyAssociationRow>& associations) {
    StudyTable table;
    auto column = [&](const char* name, auto get) { add_column(table, name, associations, get); };
    using Row = StudyAssociationRow;
    column("epoch", [](const Row& r) { return r.epoch; });
    column("metric", [](const Row& r) { return r.metric; });
    column("predictor", [](const Row& r) { return r.predictor; });
    column("controlling", [](const Row& r) { return r.controlling; });
    column("spearman_rho", [](const Row& r) { return r.association.rho; });
    column("ci_low", [](const Row& r) { return r.association.low; });
    column("ci_high", [](const Row& r) { return r.association.high; });
    column("p_value", [](const Row& r) { return r.association.p_value; });
    column("n_cells", [](const Row& r) { return r.association.cells; });
    column("expected_sign", [](const Row& r) { return static_cast<int64_t>(r.expected_sign); });
    column("verdict", [](const Row& r) { return r.verdict; });
    return table;
}

std::string format_cells_table(std::vector<StudyCellRow> cells) {
    std::stable_sort(cells.begin(), cells.end(), [](const StudyCellRow& a, const StudyCellRow& b) {
        return a.epoch != b.epoch ? a.epoch < b.epoch : a.normal_width < b.normal_width;
    });
    const char* shown[] = {"train_loss", "test_acc", "epochs_to_threshold", "top_eigenvalue",
                           "gradient_variance", "noise_scale", "basin_fraction"};
    std::string table = fmt::format("{:<34} {:>6} {:>5} {:>5} {:>3}", "cell (mean±95% half-width)", "width", "depth",
                                    "epoch", "n");
    for (const char* name : shown) table += fmt::format(" {:>17}", name);
    table += "\n";
    for (const StudyCellRow& cell : cells) {
        table += fmt::format("{:<34} {:>6} {:>5} {:>5} {:>3}", cell.cell, format_width(cell.normal_width),
                             cell.normal_depth, cell.epoch, cell.n);
        for (const char* name : shown) table += fmt::format(" {:>17}", mean_with_interval(cell.metrics[metric_index(name)]));
        table += "\n";
    }
    return table;
}

std::string format_verdict_table(const std::vector<StudyAssociationRow>& associations) {
    std::string table = fmt::format("{:<20} {:>5} {:>24} {:>8} {:>24} {:>10}  {}\n", "metric vs width", "epoch",
                                    "rho [95% interval]", "p", "rho, depth held fixed", "paper", "verdict");
    for (const StudyAssociationRow& row : associations) {
        if (row.predictor != "normal_width" || !row.controlling.empty()) continue;
        const StudyAssociationRow* partial = nullptr;
        for (const auto& other : associations)
            if (other.epoch == row.epoch && other.metric == row.metric && other.predictor == row.predictor &&
                !other.controlling.empty())
                partial = &other;
        auto with_interval = [](const Association& a) {
            return std::isfinite(a.rho) ? fmt::format("{:+.2f} [{}, {}]", a.rho, number(a.low, "{:+.2f}"),
                                                      number(a.high, "{:+.2f}"))
                                        : std::string("-");
        };
        const char* expected = row.expected_sign > 0 ? "higher" : row.expected_sign < 0 ? "lower" : "-";
        table += fmt::format("{:<20} {:>5} {:>24} {:>8} {:>24} {:>10}  {}\n", row.metric, row.epoch,
                             with_interval(row.association), number(row.association.p_value, "{:.3f}"),
                             partial ? with_interval(partial->association) : std::string("-"), expected,
                             row.verdict);
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
