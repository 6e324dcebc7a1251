#pragma once
// The one place that shows progress. On a terminal: one line rewritten in
// place with count, rate and ETA. Otherwise (logs, pipes, CI): a plain line
// every `interval` seconds and at the end, so logs stay readable.
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace cellscape {

class Progress {
public:
    // `total` units of `unit` ("steps", "points", "HVPs") for a task called
    // `label`; 0 when the total is not known in advance (no percentage or ETA).
    Progress(std::string label, int64_t total, std::string unit);
    ~Progress();

    // `done` units so far; `detail` is appended (e.g. "loss 0.512").
    void update(int64_t done, const std::string& detail = "");
    // A line of its own that stays (e.g. an epoch summary), not overwritten.
    void note(const std::string& line);

private:
    void draw(int64_t done, const std::string& detail, bool force);

    std::string label_, unit_;
    int64_t total_;
    bool terminal_;
    double interval_seconds_;
    bool line_open_ = false;
    std::chrono::steady_clock::time_point start_, last_draw_;
    int64_t start_done_ = -1;
};

// "1:02:03", "4:05": a duration for humans.
std::string format_duration(double seconds);

}  // namespace cellscape
