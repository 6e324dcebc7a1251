#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "commands.hpp"
#include "study/study.hpp"
#include "util/error.hpp"

namespace cellscape::tools {

void add_study_command(CLI::App& app) {
    struct Options {
        std::string config;
        std::string out;
        bool json = false;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("study", "Train and analyse a set of cells; summary table and files for plots");
    command->add_option("config", options->config, "Study configuration (TOML), e.g. data/studies/quick.toml")
        ->required();
    command->add_option("--out", options->out, "Output directory (rerun the same command to resume)")->required();
    command->add_flag("--json", options->json, "Print the summary rows as JSON instead of a table");
    command->callback([options] {
        const StudyConfig config = StudyConfig::load(options->config);
        const StudyResult result = run_study(config, options->out, command_line());
        if (options->json) {
            nlohmann::ordered_json rows = nlohmann::ordered_json::array();
            auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
            for (const StudyRow& row : result.rows)
                rows.push_back({{"cell", row.cell},
                                {"status", row.status},
                                {"normal_width", row.normal_width},
                                {"normal_depth", row.normal_depth},
                                {"reduce_width", row.reduce_width},
                                {"reduce_depth", row.reduce_depth},
                                {"parameters", row.parameters},
                                {"epoch", row.epoch},
                                {"train_loss", number(row.train_loss)},
                                {"train_acc", number(row.train_accuracy)},
                                {"test_loss", number(row.test_loss)},
                                {"test_acc", number(row.test_accuracy)},
                                {"epochs_to_threshold", number(row.epochs_to_threshold)},
                                {"top_eigenvalue", number(row.top_eigenvalue)},
                                {"trace", number(row.trace)},
                                {"gradient_variance", number(row.gradient_variance)},
                                {"noise_scale", number(row.noise_scale)}});
            std::cout << nlohmann::ordered_json{{"summary", result.summary.string()},
                                                {"failed_cells", result.failed_cells},
                                                {"rows", rows}}
                             .dump(2)
                      << "\n";
        } else {
            std::cout << format_study_table(result.rows)
                      << fmt::format("summary: {}\n", result.summary.string());
        }
        if (result.failed_cells > 0)
            throw Error(fmt::format("{} cell(s) failed (see the table and the messages above); the other cells' "
                                    "results are in {}",
                                    result.failed_cells, result.summary.string()));
    });
}

}  // namespace cellscape::tools
