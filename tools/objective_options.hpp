#pragma once
// The options every analysis command shares to build its Objective, and the
// process-wide settings the command line decides (threads).
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "cellscape/analysis/objective.hpp"

namespace cellscape::tools {

struct ObjectiveFlags {
    ObjectiveSource source;
    EvaluationSamples samples;  // --seed also seeds the command's random probes or directions
    ObjectiveOptions options;
    std::string sampling = "random", split = "train", bn = "eval", dtype = "float32", device = "cpu";
    std::string cuda_float32 = "ieee";
    std::optional<int> threads;
    std::optional<int64_t> hvp_memory_mib;

    // The typed options (the names were checked when parsed), and the model
    // source checked for one of --checkpoint or --torchscript with its data.
    ObjectiveOptions resolve() const;
    EvaluationSamples resolve_samples() const;
};

void add_objective_options(CLI::App& command, ObjectiveFlags& flags);

// Sets LibTorch's threads for the process: `threads` when given, else those
// the run of `checkpoint` recorded (when there is one), else all cores.
void apply_threads(const std::optional<int>& threads, const std::string& checkpoint = {});

// Adds --cuda-float32 (ieee or tf32) to `command`, and sets it for the process.
CLI::Option* add_cuda_float32_option(CLI::App& command, std::string& name);
void apply_cuda_float32(const std::string& name);

// A CLI11 check that accepts the names of an enum's values.
template <typename Enum>
CLI::IsMember one_of() {
    std::vector<std::string> names;
    for (const auto& [name, value] : EnumNames<Enum>::values) names.emplace_back(name);
    return CLI::IsMember(names);
}

}  // namespace cellscape::tools
