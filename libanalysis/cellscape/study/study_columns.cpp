// The study's tables as named columns (io/column_table.hpp), as summary.h5
// and the JSON output hold them (docs/hdf5-schema.md).
#include "cellscape/study/study_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "cellscape/util/error.hpp"

namespace cellscape {

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
    column("ci_degenerate", [](const Row& r) { return static_cast<int64_t>(r.association.degenerate_interval); });
    column("p_value", [](const Row& r) { return r.association.p_value; });
    column("permutations", [](const Row& r) { return r.association.permutations; });
    column("p_exact", [](const Row& r) { return static_cast<int64_t>(r.association.exact); });
    column("holm_family", [](const Row& r) { return r.family; });
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
    column("duplicate_of", [](const Row& r) { return r.duplicate_of; });
    column("family_size", [](const Row& r) { return r.family_size; });
    column("noise_ratio", [](const Row& r) { return r.noise_ratio; });
    column("noise_ratio_low", [](const Row& r) { return r.noise_ratio_low; });
    column("noise_ratio_high", [](const Row& r) { return r.noise_ratio_high; });
    column("min_detectable_rho", [](const Row& r) { return r.min_detectable_rho; });
    column("power_alpha", [](const Row& r) { return r.power_alpha; });
    column("power_note", [](const Row& r) { return r.power_note; });
    column("equivalence_bound", [](const Row& r) { return r.equivalence_bound; });
    column("observed_bound", [](const Row& r) { return r.observed_bound; });
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
    column("total_ci_low", [](const Row& r) { return r.mediation.total_low; });
    column("total_ci_high", [](const Row& r) { return r.mediation.total_high; });
    column("proportion", [](const Row& r) { return r.mediation.proportion; });
    column("proportion_ci_low", [](const Row& r) { return r.mediation.proportion_low; });
    column("proportion_ci_high", [](const Row& r) { return r.mediation.proportion_high; });
    column("p_a", [](const Row& r) { return r.mediation.p_a; });
    column("p_b", [](const Row& r) { return r.mediation.p_b; });
    column("p_value", [](const Row& r) { return r.mediation.p_value; });
    column("permutations", [](const Row& r) { return r.mediation.permutations; });
    column("holm_family", [](const Row& r) { return r.family; });
    column("p_holm", [](const Row& r) { return r.p_holm; });
    column("dropped_resamples", [](const Row& r) { return r.mediation.dropped; });
    column("n_cells", [](const Row& r) { return r.mediation.cells; });
    column("minimum_cells", [](const Row& r) { return r.mediation.minimum_cells; });
    column("notes", [](const Row& r) { return r.notes; });
    column("verdict", [](const Row& r) { return r.verdict; });
    return table;
}

}  // namespace cellscape
