#pragma once
// Planning a study from a finished one (the pilot): for each metric, how
// its values vary between cells and between seeds in the pilot, what power
// the pilot had against a stated rank correlation and the smallest one it
// could detect, and how many cells and seeds a new study needs for the
// wanted power, with its cost in replicate-hours at the pilot's measured
// cost per replicate (`cellscape study plan`, docs/study.md "Planning").
// Torch-free; the simulations are power.hpp's.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/stats/power.hpp"
#include "cellscape/study/study_tables.hpp"

namespace cellscape {

struct PlanRequest {
    std::vector<std::string> metrics;     // empty: every metric with a claimed direction
    std::string predictor = "normal_width";  // or "normal_depth"
    std::string population;               // empty: the pilot's population with the most cells
    std::optional<int64_t> epoch;         // empty: the pilot's last analysis epoch
    double rho = 0.25;                    // the effect to detect (|rho| of the noise-free cell means)
    double power = 0.8;                   // the power wanted
    std::vector<int64_t> seeds{2, 3, 5, 10};  // seeds per cell to plan for
    std::optional<int64_t> cells;         // evaluate this many cells instead of searching for the fewest
    int64_t max_cells = 2000;             // the search's upper end
    // Seconds one replicate costs; empty: the pilot's measured mean (train + analyses).
    std::optional<double> replicate_seconds;
    PowerOptions options;                 // alpha, simulations, seed

    // SettingError naming the field for a value no plan can use.
    void validate() const;
};

// One metric in the pilot.
struct PilotMetric {
    std::string metric;
    VarianceComponents components;
    double power = NAN;               // the pilot's own design against request.rho
    double min_detectable_rho = NAN;  // the pilot's own design at request.power
};

// A design for one metric: `cells` cells of `seeds` seeds each.
struct PlanRow {
    std::string metric;
    int64_t seeds = 0, cells = 0;  // cells 0: none up to max_cells reaches the power
    double power = NAN;
    int64_t replicates = 0;
    double replicate_hours = NAN;
};

struct StudyPlan {
    std::string population;
    int64_t epoch = 0;
    int64_t pilot_cells = 0, pilot_replicates = 0;
    double replicate_seconds = NAN;  // what a replicate cost (NaN: unknown)
    std::vector<PilotMetric> pilot;
    std::vector<PlanRow> rows;
};

// Error for a pilot without the rows the request needs (no finished
// replicates of the population and epoch, an unknown metric or predictor).
StudyPlan plan_study(const std::vector<StudyRow>& pilot, const PlanRequest& request);

// For people: the pilot's metrics, then each metric's designs.
std::string format_study_plan(const StudyPlan& plan, const PlanRequest& request);

}  // namespace cellscape
