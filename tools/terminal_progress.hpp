#pragma once
// The command line's progress sink: on a terminal, one line per task
// rewritten in place with count, rate and ETA; otherwise (logs, pipes, CI)
// a plain line every CELLSCAPE_PROGRESS_SECONDS (default 10) seconds and
// when a task finishes, so logs stay readable. Everything goes to stderr.
#include <chrono>
#include <cstdint>
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
    // The task being drawn: rates count from its first report, so a resumed
    // run reports its own speed.
    std::string task_;
    int64_t first_done_ = 0;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace cellscape::tools
