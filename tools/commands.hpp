#pragma once
// Each subcommand adds itself to the application; main() only dispatches.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cellscape/analysis/objective.hpp"
#include "cellscape/cells/genotype.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/io/output_lock.hpp"
#include "cellscape/io/paths.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape::tools {

void add_cell_command(CLI::App& app);
void add_sample_command(CLI::App& app);
void add_variants_command(CLI::App& app);
void add_network_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_hessian_command(CLI::App& app);
void add_gradvar_command(CLI::App& app);
void add_proxies_command(CLI::App& app);
void add_surface_command(CLI::App& app);
void add_merge_command(CLI::App& app);
void add_study_command(CLI::App& app);
void add_study_plan_command(CLI::App& study);
void add_rank_command(CLI::App& app);
void add_info_command(CLI::App& app);

// The command line as typed, for the `command` attribute of output files.
const std::string& command_line();

// The record of an analysis's output file: the command line, and as its
// "settings" the analysis's own record of what it ran (e.g.
// hessian_settings_json, the one a study's files carry too) after the seed
// that chose the samples.
OutputRecord analysis_record(uint64_t seed, const nlohmann::ordered_json& settings);

// Where long computations report progress: a line on stderr (terminal_progress.hpp).
ProgressSink* progress_sink();

// --out FILE and --force, for commands that write one result file: before
// any work, the file is checked by io/paths.hpp's policy (its directory
// exists and is writable, the name fits, an existing regular file only
// with --force, never a directory or special file, never one of the
// command's inputs).
struct OutputFile {
    std::string path;
    bool force = false;
    void add_to(CLI::App& command, const std::string& description);
    // When a path was given; `allow_existing` leaves an existing file to the
    // command (a surface continues or finds its own earlier result).
    void check(const NamedInputs& inputs, bool allow_existing = false) const;
    // check(), then the file locked against a second cellscape writing it
    // until the lock goes (none when no path was given).
    std::unique_ptr<OutputLock> claim(const NamedInputs& inputs) const;
};

// The files an objective reads (checkpoint, TorchScript module, data file),
// for OutputFile::check.
NamedInputs inputs_of(const ObjectiveSource& source);

// How the cell-printing commands (cell, sample, variants) show their cells.
struct CellOutputOptions {
    bool json = false;
    bool dot = false;
    std::string render;  // FILE.svg|png|pdf; with several cells it must contain {name}
    bool force = false;  // replace existing regular files
    void add_to(CLI::App& command);
};

// Prints `cells` as JSON, DOT, a table (several) or a text block (one), and
// renders diagrams when asked. `single_object` prints one JSON object rather
// than an array when there is one cell.
void print_cells(const std::vector<NamedGenotype>& cells, const CellOutputOptions& options, bool single_object);

}  // namespace cellscape::tools
