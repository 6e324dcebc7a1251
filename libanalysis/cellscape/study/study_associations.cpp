// The association table (docs/statistics.md): every metric's rank
// correlation with width and depth (and each given the other) over the
// cells of each population and epoch, its permutation test, Holm within
// its family, power and equivalence, and the verdict.
#include "cellscape/study/study_tables.hpp"

#include "cellscape/study/detail/study_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cellscape/stats/power.hpp"
#include "cellscape/stats/statistics.hpp"

namespace cellscape {

using namespace study_detail;

namespace {

// What a row's association needs besides its row: the cells' values
// (rank_test_values), the predictor and control per cell, the metric's
// variance components.
struct AssociationInputs {
    std::vector<std::vector<double>> replicates;
    std::vector<double> predictor, control;
    VarianceComponents components;
};

// Every association row of the table, with rho alone (association_estimate)
// and its family; no resampling yet.
std::vector<std::pair<StudyAssociationRow, AssociationInputs>> association_rows(const std::vector<StudyRow>& rows) {
    std::vector<std::pair<StudyAssociationRow, AssociationInputs>> planned;
    for (int64_t epoch : epochs_of(rows)) {
        const auto all_groups = rows_by_cell(rows, epoch);
        for (const std::string& population : populations_of(all_groups)) {
            const auto groups = population_groups(all_groups, population);
            std::vector<double> width, depth;
            for (const auto& group : groups) {
                width.push_back(group.front()->normal_width);
                depth.push_back(static_cast<double>(group.front()->normal_depth));
            }
            for (const StudyMetric& metric : measured_metrics(rows)) {
                const CellReplicates values = rank_test_values(groups, metric);
                const VarianceComponents components = variance_components(values.values, values.seeds);
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
                        row.family = holm_family(metric.name);
                        row.expected_sign = p.sign;
                        AssociationInputs inputs{values.values, p.values,
                                                 partial ? p.other_values : std::vector<double>{}, components};
                        row.association = association_estimate(inputs.replicates, inputs.predictor, inputs.control);
                        planned.emplace_back(std::move(row), std::move(inputs));
                    }
                }
            }
        }
    }
    return planned;
}

// The sign of the rank correlation of width and depth over a row's cells
// when their ranks coincide exactly (+1) or are exactly reversed (-1); 0
// otherwise.
int coinciding_ranks(const AssociationInputs& depth_row, const std::vector<double>& width) {
    std::vector<double> x, z;
    for (std::size_t c = 0; c < depth_row.replicates.size(); ++c)
        if (std::any_of(depth_row.replicates[c].begin(), depth_row.replicates[c].end(),
                        [](double v) { return std::isfinite(v); })) {
            x.push_back(depth_row.predictor[c]);
            z.push_back(width[c]);
        }
    const double rho = x.size() >= 3 ? spearman(x, z) : NAN;
    return std::abs(rho) > 1 - 1e-12 ? (rho > 0 ? 1 : -1) : 0;
}

// Whether the control takes one value over the cells with a value (the
// partial correlation is then the plain one).
bool constant_control(const AssociationInputs& row) {
    std::vector<double> z;
    for (std::size_t c = 0; c < row.replicates.size(); ++c)
        if (std::any_of(row.replicates[c].begin(), row.replicates[c].end(), [](double v) { return std::isfinite(v); }))
            z.push_back(row.control[c]);
    return !z.empty() && !varies(z);
}

// The rows that repeat another row's test: plain depth rows whose cells'
// ranks coincide with (or reverse) the width's, and partial rows whose
// control is constant (the plain row of their predictor). duplicate_of is
// set; the map gives the index of the row each repeats and the sign of
// the repetition.
std::map<std::size_t, std::pair<std::size_t, int>> mark_duplicates(
    std::vector<std::pair<StudyAssociationRow, AssociationInputs>>& planned) {
    std::map<std::size_t, std::pair<std::size_t, int>> twins;
    auto plain_row = [&](const StudyAssociationRow& row, const char* predictor) {
        for (std::size_t j = 0; j < planned.size(); ++j) {
            const StudyAssociationRow& other = planned[j].first;
            if (other.predictor == predictor && other.controlling.empty() && other.epoch == row.epoch &&
                other.population == row.population && other.metric == row.metric)
                return j;
        }
        return planned.size();
    };
    for (std::size_t i = 0; i < planned.size(); ++i) {
        auto& [row, inputs] = planned[i];
        if (!row.controlling.empty()) {
            const std::size_t j = constant_control(inputs) ? plain_row(row, row.predictor.c_str()) : planned.size();
            if (j < planned.size()) {
                row.duplicate_of = row.predictor;
                twins[i] = {j, 1};
            }
            continue;
        }
        if (row.predictor != "normal_depth") continue;
        for (std::size_t j = 0; j < planned.size(); ++j) {
            const StudyAssociationRow& other = planned[j].first;
            if (other.predictor != "normal_width" || !other.controlling.empty() || other.epoch != row.epoch ||
                other.population != row.population || other.metric != row.metric)
                continue;
            if (const int sign = coinciding_ranks(inputs, planned[j].second.predictor); sign != 0) {
                row.duplicate_of = "normal_width";
                twins[i] = {j, sign};
            }
        }
    }
    return twins;
}

// The association of a row that repeats another with the predictor's
// ranks coinciding (sign +1) or reversed (-1).
Association repeated(const Association& twin, int sign) {
    Association result = twin;
    result.rho = sign * twin.rho;
    result.low = sign > 0 ? twin.low : -twin.high;
    result.high = sign > 0 ? twin.high : -twin.low;
    return result;
}

// Power and equivalence of a decided-upon row (the row's family size set).
void power_and_equivalence(StudyAssociationRow& row, const AssociationInputs& inputs,
                           const StudyStatistics& statistics) {
    row.noise_ratio = inputs.components.noise_ratio();
    std::tie(row.noise_ratio_low, row.noise_ratio_high) = inputs.components.noise_ratio_interval();
    row.equivalence_bound = statistics.equivalence_bound;
    row.power_alpha = statistics.alpha / static_cast<double>(std::max<int64_t>(1, row.family_size));
    RankTestDesign design = measured_design(inputs.replicates, row.noise_ratio, inputs.predictor, inputs.control);
    if (design.predictor.size() < 3) {
        row.power_note = "too few cells";
    } else if (!std::isfinite(row.association.rho)) {
        if (!varies(design.predictor))
            row.power_note = "rho undefined: the predictor takes one value over the cells with a value";
        else if (!row.controlling.empty())
            row.power_note = "rho undefined: the control explains the predictor (or the metric) completely";
        else
            row.power_note = "rho undefined: the cells' means do not vary";
    } else if (std::isnan(row.noise_ratio)) {
        row.power_note = "noise unknown (one seed per cell)";
    } else if (std::isinf(row.noise_ratio)) {
        row.power_note = "cannot be planned from this study: its cells differ no more than their seeds "
                         "(between-cell variance estimated 0)";
    } else {
        row.min_detectable_rho =
            minimum_detectable_rho(design, statistics.power, power_options(statistics, row.power_alpha));
        if (std::isnan(row.min_detectable_rho))
            row.power_note = fmt::format("no |rho| is detected with {:.0f}% power at p < {:.2g}", 100 * statistics.power,
                                         row.power_alpha);
    }
    design.noise_ratio = row.noise_ratio_high;
    row.observed_bound = design.predictor.size() >= 3 && !std::isnan(row.noise_ratio_high)
                             ? attenuated_rho(design, statistics.equivalence_bound,
                                              power_options(statistics, statistics.alpha))
                             : NAN;
    row.equivalence = equivalence_test(row.association, row.observed_bound);
}

}  // namespace

std::vector<StudyAssociationRow> associate_with_predictors(const std::vector<StudyRow>& rows,
                                                           const StudyStatistics& statistics) {
    auto planned = association_rows(rows);
    const auto twins = mark_duplicates(planned);
    std::vector<StudyAssociationRow> associations;
    for (const auto& entry : planned) associations.push_back(entry.first);
    const std::map<std::string, int64_t> sizes = family_sizes(associations);
    AssociationOptions options = association_options(statistics);
    for (std::size_t i = 0; i < planned.size(); ++i) {
        StudyAssociationRow& row = associations[i];
        const AssociationInputs& inputs = planned[i].second;
        row.family_size = sizes.count(row.family) ? sizes.at(row.family) : 0;
        if (!row.duplicate_of.empty() || !std::isfinite(row.association.rho)) continue;
        options.permutations = family_permutations(statistics, row.family_size);
        row.association = associate(inputs.replicates, inputs.predictor, inputs.control, options);
    }
    for (const auto& [index, twin] : twins)
        associations[index].association = repeated(associations[twin.first].association, twin.second);
    std::vector<double> p_values;
    std::vector<std::string> families;
    for (const auto& row : associations) {
        p_values.push_back(row.duplicate_of.empty() ? row.association.p_value : NAN);
        families.push_back(row.family);
    }
    const std::vector<double> adjusted = holm_within_families(p_values, families);
    for (std::size_t i = 0; i < associations.size(); ++i) associations[i].p_holm = adjusted[i];
    for (const auto& [index, twin] : twins) associations[index].p_holm = associations[twin.first].p_holm;
    for (std::size_t i = 0; i < associations.size(); ++i) {
        StudyAssociationRow& row = associations[i];
        row.association.metric = row.metric;
        row.association.predictor = row.predictor;
        row.association.controlling = row.controlling;
        power_and_equivalence(row, planned[i].second, statistics);
        row.verdict = association_verdict(row.association, row.p_holm, row.expected_sign, row.equivalence, statistics);
    }
    return associations;
}

}  // namespace cellscape
