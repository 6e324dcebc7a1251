#pragma once
// The options every analysis command shares to build its Objective.
#include <CLI/CLI.hpp>

#include "analysis/objective.hpp"

namespace cellscape::tools {

void add_objective_options(CLI::App& command, ObjectiveSource& source, ObjectiveOptions& options);

}  // namespace cellscape::tools
