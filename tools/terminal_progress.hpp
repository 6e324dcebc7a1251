#pragma once
// The command line's progress sink: on a terminal, one line per task
// rewritten in place with count, rate and ETA; otherwise (logs, pipes, CI)
// a plain line every CELLSCAPE_PROGRESS_SECONDS (default 10) seconds and
// when a task finishes, so logs stay readable. Everything goes to stderr.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "cellscape/util/progress.hpp"

namespace cellscape::tools {

class TerminalProgress : public ProgressSink {
public:
    TerminalProgress();
    ~TerminalProgress() override;
    void update(const ProgressUpdate& update) override;
    void note(std::string_view line) override;
    // Ends a progress line drawn in place, so that what follows starts on its own line.
    void end_line();

private:
    bool terminal_;
    double interval_seconds_;
    bool line_open_ = false;
    // Each task's clock: rates count from its first report, so a resumed
    // run reports its own speed; an outer task (the study) keeps its clock
    // while inner ones (training, surfaces) report in between, and a task
    // that starts over (the next surface) gets a new one.
    struct Clock {
        int64_t first_done = 0, last_done = 0;
        std::chrono::steady_clock::time_point start;
    };
    std::map<std::string, Clock> clocks_;
    std::string task_;  // the task drawn last
    std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace cellscape::tools
