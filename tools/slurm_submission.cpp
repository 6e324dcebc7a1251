#include "slurm_submission.hpp"

#include <fmt/format.h>

#include <algorithm>

#include <array>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cellscape/io/paths.hpp"
#include "cellscape/study/study.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/version.hpp"
#include "printable.hpp"

namespace cellscape {
namespace {

// A path as one single-quoted shell word.
std::string quoted(const std::filesystem::path& path) {
    std::string word = "'";
    for (char c : path.string()) word += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return word + "'";
}

// A value for an #SBATCH line, which sbatch reads up to the line's end and
// no shell quoting protects: refused unless every character is `allowed`.
std::string sbatch_value(const std::string& value, const char* flag, const std::string& allowed,
                         const char* described, const char* example) {
    const auto bad = value.find_first_not_of(allowed);
    if (bad != std::string::npos)
        throw Error(fmt::format("{} '{}': the character '{}' cannot go into a Slurm script (only {}); e.g. {} {}",
                                flag, tools::printable(value), tools::printable(value.substr(bad, 1)), described, flag,
                                example));
    return value;
}

const std::string letters_and_digits = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

std::string resource_lines(const SlurmOptions& options) {
    std::string lines;
    if (!options.partition.empty())
        lines += fmt::format("#SBATCH --partition={}\n",
                             sbatch_value(options.partition, "--partition", letters_and_digits + "_-.,",
                                          "letters, digits and _-.,", "gpu"));
    if (options.cpus_per_task > 0) lines += fmt::format("#SBATCH --cpus-per-task={}\n", options.cpus_per_task);
    if (options.gpus_per_task > 0) lines += fmt::format("#SBATCH --gpus-per-task={}\n", options.gpus_per_task);
    if (!options.time.empty())
        lines += fmt::format("#SBATCH --time={}\n", sbatch_value(options.time, "--time", "0123456789:-",
                                                                  "digits, ':' and '-'", "24:00:00"));
    return lines;
}

// The study's name in job names and comments: letters, digits and _.- kept,
// everything else (a newline from the TOML included) as '-'.
std::string script_name(const std::string& name) {
    std::string safe = name;
    for (char& c : safe)
        if (letters_and_digits.find(c) == std::string::npos && c != '_' && c != '.' && c != '-') c = '-';
    return safe;
}

// A directory for an #SBATCH --output line: no quoting reaches it either.
std::string sbatch_path(const std::filesystem::path& path) {
    const std::string text = path.string();
    const auto bad = text.find_first_of(" \t\r\n\"'$`\\");
    if (bad != std::string::npos)
        throw Error(fmt::format("--out {}: a Slurm study's directory may not contain spaces, quotes, '$', '`' or "
                                "control characters (its log path goes into #SBATCH --output, which no quoting "
                                "protects); choose a plain path such as out/study",
                                tools::printable(text, 200)));
    return text;
}

void write_script(const std::filesystem::path& path, const std::string& text) {
    errno = 0;
    std::ofstream out(path);
    out << text;
    out.close();  // a full disk shows at the flush
    if (!out)
        throw Error(fmt::format("cannot write {}: {}", path.string(),
                                errno ? file_system_cause(errno) : "the write failed"));
    std::filesystem::permissions(path, std::filesystem::perms::owner_exec, std::filesystem::perm_options::add);
}

// Runs `sbatch --parsable ARGS` and returns the job id it prints.
std::string sbatch(const std::string& arguments) {
    const std::string command = "sbatch --parsable " + arguments + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) throw Error("cannot run sbatch");
    std::string output;
    std::array<char, 256> buffer{};
    while (fgets(buffer.data(), static_cast<int>(buffer.size()), pipe)) output += buffer.data();
    const int status = pclose(pipe);
    while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
    if (status != 0) {
        if (status == 127 * 256 || output.find("not found") != std::string::npos)
            throw Error("sbatch is not on PATH: submit from a Slurm login node, or use --dry-run to write the scripts");
        throw Error(fmt::format("sbatch failed: {}", output));
    }
    return output.substr(0, output.find(';'));  // "ID" or "ID;CLUSTER"
}

// The cells array's tasks: with pack > 1 the packs of a cell's seeds (each
// trained as one network) with a member still to do, else the replicates
// still to do (`pending`).
std::vector<std::size_t> pending_tasks(const StudyConfig& config, const std::vector<StudyReplicate>& replicates,
                                       const std::filesystem::path& out, const std::vector<std::size_t>& pending) {
    if (config.pack == 1) return pending;
    std::vector<std::size_t> tasks;
    const auto packs = study_packs(config, replicates);
    for (std::size_t p = 0; p < packs.size(); ++p)
        if (std::any_of(packs[p].begin(), packs[p].end(),
                        [&](std::size_t i) { return !study_replicate_finished(config, out, replicates[i]); }))
            tasks.push_back(p);
    return tasks;
}

}  // namespace

SlurmSubmission submit_study_to_slurm(const StudyConfig& config, const std::filesystem::path& config_path,
                                      const std::filesystem::path& out_dir, const SlurmOptions& options) {
    const auto out = std::filesystem::absolute(out_dir);
    const auto config_file = std::filesystem::absolute(config_path);
    const auto binary = std::filesystem::read_symlink("/proc/self/exe");
    const auto slurm_dir = out / "slurm";
    // Every value an #SBATCH line embeds, checked before anything is written.
    const std::string logs = sbatch_path(slurm_dir / "logs");
    const std::string resources = resource_lines(options);
    const std::string name = script_name(config.name);
    prepare_output_directory(slurm_dir / "logs", "out_dir");

    SlurmSubmission submission;
    const std::vector<StudyReplicate> replicates = study_replicates(config);
    for (std::size_t i = 0; i < replicates.size(); ++i)
        if (!study_replicate_finished(config, out, replicates[i])) submission.replicates.push_back(i);
    submission.tasks = pending_tasks(config, replicates, out, submission.replicates);
    const std::vector<std::size_t>& tasks = submission.tasks;

    submission.cells_script = slurm_dir / "cells.sbatch";
    write_script(submission.cells_script,
                 fmt::format("#!/bin/bash\n"
                             "# cellscape study {name}: one array task per {unit} still to do (train, then analyse).\n"
                             "#SBATCH --job-name=cellscape-{name}-cells\n"
                             "#SBATCH --array={array}\n"
                             "#SBATCH --output={logs}/cell-%a.log\n"
                             "{resources}"
                             "set -euo pipefail\n"
                             "exec {binary} study {config} --out {out} {part} \"$SLURM_ARRAY_TASK_ID\"{skip}\n",
                             fmt::arg("name", name), fmt::arg("array", fmt::join(tasks, ",")),
                             fmt::arg("unit", config.pack > 1 ? "pack of a cell's seeds" : "(cell, seed)"),
                             fmt::arg("part", config.pack > 1 ? "--pack-index" : "--replicate-index"),
                             fmt::arg("logs", logs), fmt::arg("resources", resources),
                             fmt::arg("binary", quoted(binary)), fmt::arg("config", quoted(config_file)),
                             fmt::arg("out", quoted(out)),
                             fmt::arg("skip", config.slurm_surface_shards > 1 ? " --skip-surfaces" : "")));
    const int64_t shards = config.slurm_surface_shards;
    std::vector<std::size_t> shard_tasks;  // replicate * shards + shard
    for (std::size_t replicate : submission.replicates)
        for (int64_t shard = 0; shard < shards; ++shard)
            shard_tasks.push_back(replicate * static_cast<std::size_t>(shards) + static_cast<std::size_t>(shard));
    if (shards > 1) {
        submission.surfaces_script = slurm_dir / "surfaces.sbatch";
        write_script(submission.surfaces_script,
                     fmt::format("#!/bin/bash\n"
                                 "# cellscape study {name}: each replicate's surfaces in {shards} point shards, after its "
                                 "training.\n"
                                 "#SBATCH --job-name=cellscape-{name}-surfaces\n"
                                 "#SBATCH --array={array}\n"
                                 "#SBATCH --output={logs}/surface-%a.log\n"
                                 "{resources}"
                                 "set -euo pipefail\n"
                                 "exec {binary} study {config} --out {out} --replicate-index $((SLURM_ARRAY_TASK_ID / "
                                 "{shards})) --surface-shard $((SLURM_ARRAY_TASK_ID % {shards}))\n",
                                 fmt::arg("name", name), fmt::arg("shards", shards),
                                 fmt::arg("array", fmt::join(shard_tasks, ",")),
                                 fmt::arg("logs", logs),
                                 fmt::arg("resources", resources), fmt::arg("binary", quoted(binary)),
                                 fmt::arg("config", quoted(config_file)), fmt::arg("out", quoted(out))));
    }
    SlurmOptions summary_resources = options;
    summary_resources.gpus_per_task = 0;  // collecting and plotting need no GPU
    summary_resources.cpus_per_task = 1;
    submission.summary_script = slurm_dir / "summary.sbatch";
    write_script(submission.summary_script,
                 fmt::format("#!/bin/bash\n"
                             "# cellscape study {name}: the summary of all cells and the figures, after the cells.\n"
                             "#SBATCH --job-name=cellscape-{name}-summary\n"
                             "#SBATCH --output={logs}/summary.log\n"
                             "{resources}"
                             "set -uo pipefail\n"
                             "{binary} study {config} --out {out} --collect\n"
                             "status=$?\n"
                             "if [ -f {out}/summary.h5 ] && {python} -c 'import cellscape_plots' 2>/dev/null; then\n"
                             "  {python} -m cellscape_plots study {out} || status=1\n"
                             "else\n"
                             "  echo \"no figures:\" {python} \"cannot import cellscape_plots (see docs/cluster.md)\"\n"
                             "fi\n"
                             "exit $status\n",
                             fmt::arg("name", name), fmt::arg("logs", logs),
                             fmt::arg("resources", resource_lines(summary_resources)),
                             fmt::arg("binary", quoted(binary)), fmt::arg("config", quoted(config_file)),
                             fmt::arg("out", quoted(out)), fmt::arg("python", quoted(std::filesystem::path(options.figures_python)))));
    if (options.dry_run) return submission;
    std::string dependency;
    if (!submission.tasks.empty()) {
        submission.cells_job = sbatch(quoted(submission.cells_script));
        dependency = fmt::format("--dependency=afterany:{} ", submission.cells_job);
        if (shards > 1) {
            submission.surfaces_job = sbatch(dependency + quoted(submission.surfaces_script));
            dependency = fmt::format("--dependency=afterany:{}:{} ", submission.cells_job, submission.surfaces_job);
        }
    }
    submission.summary_job = sbatch(dependency + quoted(submission.summary_script));
    return submission;
}

}  // namespace cellscape
