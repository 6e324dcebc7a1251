#include "cellscape/study/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "cellscape/util/error.hpp"

namespace cellscape {
namespace {

const StudyMetric& find_metric(const std::string& name) {
    for (const StudyMetric& metric : study_metrics())
        if (name == metric.name) return metric;
    std::vector<std::string> names;
    for (const StudyMetric& metric : study_metrics()) names.emplace_back(metric.name);
    throw SettingError("metrics", fmt::format("{} is not a study metric; the metrics are {}", name,
                                              fmt::join(names, ", ")));
}

double predictor_of(const StudyRow& row, const std::string& predictor) {
    return predictor == "normal_width" ? row.normal_width : static_cast<double>(row.normal_depth);
}

// The pilot's finished rows of the population and epoch, grouped by cell.
struct PilotCells {
    std::vector<std::string> names;
    std::vector<double> predictor;
    std::vector<std::vector<const StudyRow*>> rows;
};

PilotCells pilot_cells(const std::vector<StudyRow>& pilot, const std::string& population, int64_t epoch,
                       const std::string& predictor) {
    PilotCells cells;
    std::map<std::string, std::size_t> index;
    for (const StudyRow& row : pilot) {
        if (row.status != "ok" || row.epoch != epoch || row.population != population) continue;
        const auto [found, added] = index.emplace(row.cell, cells.names.size());
        if (added) {
            cells.names.push_back(row.cell);
            cells.predictor.push_back(predictor_of(row, predictor));
            cells.rows.emplace_back();
        }
        cells.rows[found->second].push_back(&row);
    }
    return cells;
}

// The population with the most cells (first seen on a tie).
std::string largest_population(const std::vector<StudyRow>& pilot, int64_t epoch) {
    std::vector<std::string> order;
    std::map<std::string, std::map<std::string, int>> cells;
    for (const StudyRow& row : pilot) {
        if (row.status != "ok" || row.epoch != epoch) continue;
        if (!cells.count(row.population)) order.push_back(row.population);
        cells[row.population][row.cell] = 1;
    }
    std::string best;
    for (const std::string& population : order)
        if (best.empty() || cells[population].size() > cells[best].size()) best = population;
    return best;
}

int64_t last_epoch(const std::vector<StudyRow>& pilot) {
    int64_t epoch = 0;
    for (const StudyRow& row : pilot)
        if (row.status == "ok") epoch = std::max(epoch, row.epoch);
    return epoch;
}

}  // namespace

void PlanRequest::validate() const {
    if (predictor != "normal_width" && predictor != "normal_depth")
        throw SettingError("predictor", fmt::format("is {}; use normal_width or normal_depth", predictor));
    if (!(rho > 0 && rho < 1)) throw SettingError("rho", fmt::format("must be between 0 and 1 (got {})", rho));
    if (!(options.alpha > 0 && options.alpha < 1))
        throw SettingError("alpha", fmt::format("must be between 0 and 1 (got {})", options.alpha));
    if (!(power > options.alpha && power < 1))
        throw SettingError("power", fmt::format("must be between alpha ({}) and 1 (got {})", options.alpha, power));
    if (seeds.empty()) throw SettingError("seeds", "is empty: give the seeds per cell to plan for, e.g. 2,3,5");
    for (int64_t count : seeds)
        if (count < 1 || count > 1000)
            throw SettingError("seeds", fmt::format("must be between 1 and 1000 per cell (got {})", count));
    if (cells && (*cells < 3 || *cells > 100000))
        throw SettingError("cells", fmt::format("must be between 3 and 100000 (got {})", *cells));
    if (max_cells < 4 || max_cells > 100000)
        throw SettingError("max_cells", fmt::format("must be between 4 and 100000 (got {})", max_cells));
    if (replicate_seconds && !(*replicate_seconds > 0))
        throw SettingError("replicate_seconds", fmt::format("must be positive (got {})", *replicate_seconds));
    for (const std::string& metric : metrics) (void)find_metric(metric);
}

namespace {

// The pilot's replicates, and the mean seconds of those that recorded their
// time (the request's replicate_seconds when given).
void count_pilot(StudyPlan& plan, const PilotCells& cells, const PlanRequest& request) {
    double seconds = 0;
    int64_t timed = 0;
    for (const auto& group : cells.rows)
        for (const StudyRow* row : group) {
            ++plan.pilot_replicates;
            if (std::isfinite(row->train_seconds) && std::isfinite(row->analysis_seconds)) {
                seconds += row->train_seconds + row->analysis_seconds;
                ++timed;
            }
        }
    plan.replicate_seconds = request.replicate_seconds.value_or(timed > 0 ? seconds / static_cast<double>(timed) : NAN);
}

// The latent correlation of the effect, once: it depends on the
// proportions of predictor values, not on the noise or the size.
double planned_latent_correlation(const PilotCells& cells, const StudyPlan& plan, const PlanRequest& request) {
    RankTestDesign calibration;
    calibration.predictor = scaled_predictor(cells.predictor, std::max<int64_t>(200, plan.pilot_cells));
    calibration.seeds.assign(calibration.predictor.size(), 1);
    const double latent = latent_correlation(calibration, request.rho, request.options);
    if (!std::isfinite(latent))
        throw Error(fmt::format("|rho| = {} is more than the pilot's {} values allow; plan for a smaller rho",
                                request.rho, request.predictor));
    return latent;
}

// One metric: its pilot's variance components, power and smallest
// detectable rho as run, and a plan row per seed count (none when the
// pilot cannot say: no values, no spread between cells, one seed per cell).
void plan_metric(StudyPlan& plan, const PilotCells& cells, const std::string& name, double latent,
                 const PlanRequest& request) {
    const StudyMetric& metric = find_metric(name);
    // The values the study's test ranks (Gehan scores for epochs_to_threshold).
    const CellReplicates tested = rank_test_values(cells.rows, metric);
    PilotMetric measured{name, variance_components(tested.values, tested.seeds)};
    const RankTestDesign as_run = measured_design(tested.values, measured.components.noise_ratio(), cells.predictor, {});
    if (as_run.predictor.empty() && !request.metrics.empty())
        throw SettingError("metrics", fmt::format("names {}, but no replicate of the pilot's population '{}' at "
                                                  "epoch {} has a value of it (its study did not run that "
                                                  "analysis, or every replicate failed it): plan for a metric the "
                                                  "pilot measured",
                                                  name, plan.population, plan.epoch));
    const bool usable = as_run.predictor.size() >= 3 && std::isfinite(as_run.noise_ratio);
    if (usable) {
        measured.power = rank_test_power(as_run, request.rho, request.options).power;
        measured.min_detectable_rho = minimum_detectable_rho(as_run, request.power, request.options);
    }
    plan.pilot.push_back(measured);
    if (!usable) return;
    for (int64_t seeds : request.seeds) {
        PlanRow row{name, seeds};
        if (request.cells) {
            row.cells = *request.cells;
            row.power = power_at_latent(scaled_design(cells.predictor, row.cells, seeds, as_run.noise_ratio), latent,
                                        request.options);
        } else {
            row.cells = fewest_cells(cells.predictor, seeds, as_run.noise_ratio, latent, request.power,
                                     request.max_cells, request.options, row.power);
        }
        row.replicates = row.cells * seeds;
        row.replicate_hours = static_cast<double>(row.replicates) * plan.replicate_seconds / 3600.0;
        plan.rows.push_back(row);
    }
}

}  // namespace

StudyPlan plan_study(const std::vector<StudyRow>& pilot, const PlanRequest& request) {
    request.validate();
    StudyPlan plan;
    plan.epoch = request.epoch.value_or(last_epoch(pilot));
    plan.population = request.population.empty() ? largest_population(pilot, plan.epoch) : request.population;
    const PilotCells cells = pilot_cells(pilot, plan.population, plan.epoch, request.predictor);
    if (cells.names.size() < 3)
        throw Error(fmt::format("the pilot has {} cells with finished replicates in population '{}' at epoch {}; a "
                                "plan needs at least 3 (choose another population or epoch)",
                                cells.names.size(), plan.population, plan.epoch));
    plan.pilot_cells = static_cast<int64_t>(cells.names.size());
    count_pilot(plan, cells, request);
    const double latent = planned_latent_correlation(cells, plan, request);
    std::vector<std::string> metrics = request.metrics;
    if (metrics.empty())
        for (const StudyMetric& metric : study_metrics())
            if (metric.sign_with_width != 0) metrics.emplace_back(metric.name);
    for (const std::string& name : metrics) plan_metric(plan, cells, name, latent, request);
    return plan;
}

std::string format_study_plan(const StudyPlan& plan, const PlanRequest& request) {
    std::string text = fmt::format(
        "pilot: population {}, epoch {}: {} cells, {} replicates; a replicate took {}\n", plan.population, plan.epoch,
        plan.pilot_cells, plan.pilot_replicates,
        std::isfinite(plan.replicate_seconds) ? fmt::format("{:.1f} s", plan.replicate_seconds)
                                              : std::string("an unknown time (the pilot recorded none; state one to plan replicate-hours)"));
    text += fmt::format("target: |rho| = {} against {}, {:.0f}% power, two-sided alpha = {} (the study's permutation "
                        "test of Spearman's rho over the cells' means)\n\n",
                        request.rho, request.predictor, 100 * request.power, request.options.alpha);
    text += fmt::format("{:<20} {:>11} {:>11} {:>12} {:>20} {:>14} {:>9}\n", "metric", "between", "within",
                        "noise ratio", "its 95% interval", "pilot: power", "min|rho|");
    auto number = [](double value, const char* format) {
        if (std::isinf(value)) return std::string(value > 0 ? "inf" : "-inf");
        return std::isfinite(value) ? fmt::format(fmt::runtime(format), value) : std::string("-");
    };
    for (const PilotMetric& metric : plan.pilot) {
        const auto [low, high] = metric.components.noise_ratio_interval();
        text += fmt::format("{:<20} {:>11} {:>11} {:>12} {:>20} {:>14} {:>9}\n", metric.metric,
                            number(metric.components.between, "{:.4g}"), number(metric.components.within, "{:.4g}"),
                            number(metric.components.noise_ratio(), "{:.3g}"),
                            std::isnan(low) ? std::string("-")
                                            : fmt::format("[{}, {}]", number(low, "{:.3g}"), number(high, "{:.3g}")),
                            number(metric.power, "{:.2f}"), number(metric.min_detectable_rho, "{:.2f}"));
    }
    text += "\n";
    for (const PilotMetric& metric : plan.pilot)
        if (metric.components.between == 0)
            text += fmt::format("{}: cannot be planned from this pilot: its cells differ no more than their seeds do "
                                "(between-cell variance estimated 0; the noise ratio's 95% interval reaches infinity). "
                                "That is no evidence that a study could not detect it: the between-cell variance is "
                                "not measured, not shown to be 0. A plan needs a pilot with less noise per seed (e.g. a "
                                "longer schedule or more evaluation samples), more seeds per cell, or more cells\n",
                                metric.metric);
    text += fmt::format("\n{:<20} {:>6} {:>7} {:>7} {:>11} {:>16}\n", "metric", "seeds", "cells", "power",
                        "replicates", "replicate-hours");
    std::string previous;
    for (const PlanRow& row : plan.rows) {
        const std::string cells =
            row.cells > 0 ? fmt::to_string(row.cells) : fmt::format(">{}", request.max_cells);
        text += fmt::format("{:<20} {:>6} {:>7} {:>7} {:>11} {:>16}\n", row.metric == previous ? "" : row.metric,
                            row.seeds, cells, number(row.power, "{:.2f}"), row.cells > 0 ? fmt::to_string(row.replicates) : "-",
                            row.cells > 0 ? number(row.replicate_hours, "{:.1f}") : "-");
        previous = row.metric;
    }
    return text;
}

}  // namespace cellscape
