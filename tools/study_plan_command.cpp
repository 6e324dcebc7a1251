// `cellscape study plan PILOT`: power planning from a finished study
// (study/plan.hpp); the arguments only.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "commands.hpp"
#include "cellscape/study/plan.hpp"
#include "cellscape/study/study.hpp"
#include "cellscape/util/error.hpp"
#include "seed_option.hpp"

namespace cellscape::tools {
namespace {

nlohmann::ordered_json number_or_null(double value) {
    return std::isfinite(value) ? nlohmann::ordered_json(value) : nlohmann::ordered_json();
}

nlohmann::ordered_json plan_json(const StudyPlan& plan, const PlanRequest& request) {
    nlohmann::ordered_json pilot = nlohmann::ordered_json::array();
    for (const PilotMetric& metric : plan.pilot) {
        const auto [low, high] = metric.components.noise_ratio_interval();
        pilot.push_back({{"metric", metric.metric},
                         {"between", number_or_null(metric.components.between)},
                         {"within", number_or_null(metric.components.within)},
                         {"noise_ratio", number_or_null(metric.components.noise_ratio())},
                         {"noise_ratio_low", number_or_null(low)},
                         {"noise_ratio_high", number_or_null(high)},
                         {"noise_ratio_unbounded", std::isinf(high)},
                         {"plannable", metric.components.between > 0},
                         {"power", number_or_null(metric.power)},
                         {"min_detectable_rho", number_or_null(metric.min_detectable_rho)}});
    }
    nlohmann::ordered_json designs = nlohmann::ordered_json::array();
    for (const PlanRow& row : plan.rows)
        designs.push_back({{"metric", row.metric},
                           {"seeds", row.seeds},
                           {"cells", row.cells > 0 ? nlohmann::ordered_json(row.cells) : nlohmann::ordered_json()},
                           {"power", number_or_null(row.power)},
                           {"replicates", row.replicates},
                           {"replicate_hours", number_or_null(row.replicate_hours)}});
    return {{"population", plan.population},
            {"epoch", plan.epoch},
            {"predictor", request.predictor},
            {"rho", request.rho},
            {"power", request.power},
            {"alpha", request.options.alpha},
            {"pilot_cells", plan.pilot_cells},
            {"pilot_replicates", plan.pilot_replicates},
            {"replicate_seconds", number_or_null(plan.replicate_seconds)},
            {"pilot", pilot},
            {"designs", designs}};
}

}  // namespace

void add_study_plan_command(CLI::App& study) {
    struct Options {
        std::string pilot;
        PlanRequest request;
        std::optional<int64_t> epoch, cells;
        std::optional<double> replicate_seconds;
        bool json = false;
    };
    auto options = std::make_shared<Options>();
    auto* command = study.add_subcommand(
        "plan", "How many cells and seeds a study needs: power from a finished study (the pilot), by simulation");
    command->add_option("pilot", options->pilot, "The pilot: a finished study's directory (or its summary.h5)")
        ->required();
    command->add_option("--rho", options->request.rho, "The |rho| to detect (cells' noise-free means)")
        ->capture_default_str();
    command->add_option("--power", options->request.power, "The power wanted")->capture_default_str();
    command->add_option("--alpha", options->request.options.alpha, "Two-sided level of the test")
        ->capture_default_str();
    command->add_option("--seeds", options->request.seeds, "Seeds per cell to plan for, e.g. --seeds 2,3,5")
        ->delimiter(',')
        ->capture_default_str();
    command->add_option("--cells", options->cells, "Evaluate this many cells instead of finding the fewest");
    command->add_option("--metric", options->request.metrics,
                        "Plan for these metrics (repeatable; default: every metric the paper makes a claim about)");
    command->add_option("--predictor", options->request.predictor, "normal_width or normal_depth")
        ->capture_default_str();
    command->add_option("--population", options->request.population,
                        "The pilot's population (default: the one with the most cells)");
    command->add_option("--epoch", options->epoch, "The pilot's analysis epoch (default: the last)");
    command->add_option("--simulations", options->request.options.simulations, "Simulated studies per power")
        ->capture_default_str();
    command->add_option("--max-cells", options->request.max_cells, "The most cells the search tries")
        ->capture_default_str();
    command->add_option("--replicate-seconds", options->replicate_seconds,
                        "What one replicate costs (default: the pilot's measured mean)");
    command->add_option("--seed", options->request.options.seed, "Seed of the simulations")
        ->check(seed_rule_check())
        ->capture_default_str();
    command->add_flag("--json", options->json, "Print the plan as JSON");
    command->callback([options] {
        PlanRequest request = options->request;
        request.epoch = options->epoch;
        request.cells = options->cells;
        request.replicate_seconds = options->replicate_seconds;
        // The flags by the names the library's settings take.
        static const std::pair<const char*, const char*> flags[] = {
            {"rho", "--rho"},     {"power", "--power"},         {"alpha", "--alpha"},
            {"seeds", "--seeds"}, {"cells", "--cells"},         {"metrics", "--metric"},
            {"predictor", "--predictor"}, {"max_cells", "--max-cells"}, {"simulations", "--simulations"},
            {"replicate_seconds", "--replicate-seconds"}};
        StudyPlan plan;
        try {
            plan = plan_study(read_study_replicates(options->pilot), request);
        } catch (const SettingError& error) {
            for (const auto& [setting, flag] : flags)
                if (error.setting() == setting) throw Error(fmt::format("{}: {}", flag, error.problem()));
            throw;
        }
        if (options->json)
            std::cout << plan_json(plan, request).dump(2) << "\n";
        else
            std::cout << format_study_plan(plan, request);
    });
}

}  // namespace cellscape::tools
