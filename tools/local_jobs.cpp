#include "local_jobs.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <thread>

#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"

namespace cellscape::tools {
namespace {

struct RunningChild {
    std::size_t unit = 0;  // index of the pack (in study_packs' order) the child runs
    std::filesystem::path log;
    std::streamoff log_start = 0;  // the log is appended to: this child's lines start here
};

// The child's command line, as strings and as the argv execv takes (built
// before fork: between fork and exec only async-signal-safe calls are made).
struct ChildCommand {
    std::vector<std::string> arguments;
    std::vector<char*> argv;
    std::string log;

    // `--replicate-index I` or, with packs, `--pack-index I`.
    ChildCommand(const std::filesystem::path& binary, const std::filesystem::path& config_path,
                 const std::filesystem::path& out_dir, const std::string& part, std::size_t index,
                 std::filesystem::path log_path)
        : arguments{binary.string(), "study", config_path.string(), "--out", out_dir.string(), part,
                    std::to_string(index)},
          log(log_path.string()) {
        for (std::string& argument : arguments) argv.push_back(argument.data());
        argv.push_back(nullptr);
    }
};

pid_t start_child(ChildCommand& command) {
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) throw Error(fmt::format("cannot start a replicate process: {}", std::strerror(errno)));
    if (pid > 0) return pid;
    // In the child. Its own process group: a terminal's Ctrl-C reaches this
    // process only, which passes it on once (see the wait loop).
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(128 + SIGTERM);  // the parent died before prctl
    const int fd = open(command.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    execv(command.argv[0], command.argv.data());
    _exit(127);
}

// The child's own account of its failure: its last "cellscape: error:" line,
// else its last line (of what it wrote, not of earlier runs in the same log).
std::string failure_line(const RunningChild& child) {
    std::ifstream in(child.log);
    in.seekg(child.log_start);
    std::string line, last, error;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        last = line;
        if (line.rfind("cellscape: error: ", 0) == 0) error = line.substr(std::strlen("cellscape: error: "));
    }
    return !error.empty() ? error : !last.empty() ? last : "it wrote nothing";
}

std::string exit_description(int status, const RunningChild& child) {
    if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
    std::string line = failure_line(child);  // the log is read once
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && line == "it wrote nothing")
        return "its process could not run the cellscape binary";
    return line;
}

}  // namespace

namespace {

// What a child runs: one replicate (--replicate-index), or with pack > 1 the
// replicates of a pack (--pack-index), which train as one network.
struct Unit {
    std::vector<std::size_t> members;
    std::string label;            // "DARTS_V2 seed 2", "DARTS_V2 seeds 1,2"
    std::filesystem::path log;    // appended to
};

std::vector<Unit> study_units(const StudyConfig& config, const std::vector<StudyReplicate>& replicates,
                              const std::filesystem::path& out) {
    std::vector<Unit> units;
    for (const auto& pack : study_packs(config, replicates)) {
        const StudyReplicate& first = replicates[pack.front()];
        std::vector<uint64_t> seeds;
        for (std::size_t i : pack) seeds.push_back(replicates[i].seed);
        if (pack.size() == 1)
            units.push_back({pack, fmt::format("{} seed {}", first.cell.name, first.seed),
                             out / first.directory / "study.log"});
        else
            units.push_back({pack, fmt::format("{} seeds {}", first.cell.name, fmt::join(seeds, ",")),
                             out / cell_directory_name(first.cell.name) /
                                 fmt::format("study-seeds-{}.log", fmt::join(seeds, "-"))});
    }
    return units;
}

}  // namespace

std::vector<LocalJobFailure> run_replicates_locally(const StudyConfig& config,
                                                     const std::filesystem::path& config_path,
                                                     const std::filesystem::path& out_dir, int jobs,
                                                     ProgressSink* progress) {
    const std::filesystem::path binary = std::filesystem::read_symlink("/proc/self/exe");
    const std::filesystem::path config_file = std::filesystem::absolute(config_path);
    const std::filesystem::path out = std::filesystem::absolute(out_dir);
    const std::vector<StudyReplicate> replicates = study_replicates(config);
    const std::vector<Unit> units = study_units(config, replicates, out);
    const std::string part = config.pack > 1 ? "--pack-index" : "--replicate-index";
    std::deque<std::size_t> waiting;
    std::size_t done = 0;
    std::vector<std::size_t> finished_before(units.size(), 0);  // per unit: members finished before this run
    for (std::size_t u = 0; u < units.size(); ++u) {
        for (std::size_t i : units[u].members)
            finished_before[u] += study_replicate_finished(config, out, replicates[i]) ? 1 : 0;
        if (finished_before[u] < units[u].members.size()) waiting.push_back(u);
        done += finished_before[u];
    }

    const ProgressTask task(progress, "study", static_cast<int64_t>(replicates.size()), "replicates");
    if (done > 0) task.note(fmt::format("{} of {} replicates already finished", done, replicates.size()));
    task.update(static_cast<int64_t>(done), fmt::format("{} at a time", jobs));
    InterruptGuard interrupts;
    std::map<pid_t, RunningChild> running;
    std::vector<LocalJobFailure> failures;
    bool forwarded = false;
    while (!waiting.empty() || !running.empty()) {
        while (!InterruptGuard::requested() && !waiting.empty() && static_cast<int>(running.size()) < jobs) {
            const std::size_t index = waiting.front();
            waiting.pop_front();
            const Unit& unit = units[index];
            std::filesystem::create_directories(unit.log.parent_path());
            std::error_code no_log_yet;
            const auto log_start = std::filesystem::file_size(unit.log, no_log_yet);
            ChildCommand command(binary, config_file, out, part, config.pack > 1 ? index : unit.members.front(),
                                 unit.log);
            running[start_child(command)] = {index, unit.log,
                                             no_log_yet ? 0 : static_cast<std::streamoff>(log_start)};
            task.note(fmt::format("replicate {}/{}: {} (log: {})", unit.members.front() + 1, replicates.size(),
                                  unit.label, unit.log.string()));
        }
        if (InterruptGuard::requested() && !forwarded) {
            for (const auto& [pid, child] : running) kill(pid, InterruptGuard::signal_number());
            forwarded = true;
        }
        int status = 0;
        const pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        const auto found = running.find(pid);
        if (found == running.end()) continue;
        const RunningChild child = found->second;
        running.erase(found);
        const Unit& unit = units[child.unit];
        const bool interrupted = WIFEXITED(status) && WEXITSTATUS(status) > 128 && forwarded;
        if (!interrupted) {
            done += unit.members.size() - finished_before[child.unit];
            if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                failures.push_back({unit.members.front(), fmt::format("{}: {} (log: {})", unit.label,
                                                                      exit_description(status, child),
                                                                      child.log.string())});
        }
        task.update(static_cast<int64_t>(done), fmt::format("{} at a time", jobs));
    }
    if (InterruptGuard::requested())
        throw Interrupted(InterruptGuard::signal_number(),
                          fmt::format("interrupted; every finished part of each replicate is saved in {}: rerun the "
                                      "same command to continue",
                                      out.string()));
    return failures;
}

}  // namespace cellscape::tools
