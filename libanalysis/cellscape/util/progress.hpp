#pragma once
// Progress of long computations (training, Hessian spectra, surfaces,
// gradient variance, a study), reported to a sink the caller provides. The
// library writes nothing itself: the command line's sink draws a line on
// stderr (tools/terminal_progress.hpp), a host program can collect the
// reports, and a null sink discards them.
#include <cstdint>
#include <string>
#include <string_view>

namespace cellscape {

struct ProgressUpdate {
    std::string_view task;    // e.g. "train DARTS_V2", "surface", "top eigenvalues"
    int64_t done = 0;         // units done so far in the task (earlier, resumed ones included)
    int64_t total = 0;        // units in the task; 0 when not known in advance
    std::string_view unit;    // "steps", "points", "HVPs", ...
    std::string_view detail;  // e.g. "epoch 2/10, loss 0.5121"; may be empty
};

class ProgressSink {
public:
    virtual ~ProgressSink() = default;
    // After each unit of work; may be called often (a sink throttles itself).
    virtual void update(const ProgressUpdate& update) = 0;
    // A message that stays: an epoch's summary, a resumed run, a failed cell.
    virtual void note(std::string_view line) = 0;
};

// One task's reports to a sink, or to nowhere when the sink is null: what a
// long computation holds while it runs.
class ProgressTask {
public:
    ProgressTask(ProgressSink* sink, std::string task, int64_t total, std::string unit)
        : sink_(sink), task_(std::move(task)), unit_(std::move(unit)), total_(total) {}
    void update(int64_t done, std::string_view detail = {}) const {
        if (sink_) sink_->update({task_, done, total_, unit_, detail});
    }
    void note(std::string_view line) const {
        if (sink_) sink_->note(line);
    }
    ProgressSink* sink() const { return sink_; }

private:
    ProgressSink* sink_;
    std::string task_, unit_;
    int64_t total_;
};

// "1:02:03", "4:05": a duration for people.
std::string format_duration(double seconds);

}  // namespace cellscape
