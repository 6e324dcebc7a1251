#include "terminal_progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace cellscape::tools {

TerminalProgress::TerminalProgress() : terminal_(isatty(STDERR_FILENO) == 1) {
    const char* interval = std::getenv("CELLSCAPE_PROGRESS_SECONDS");
    interval_seconds_ = terminal_ ? 0.2 : (interval ? std::atof(interval) : 10.0);
}

TerminalProgress::~TerminalProgress() { end_line(); }

void TerminalProgress::end_line() {
    if (line_open_) std::fputs("\n", stderr);
    line_open_ = false;
}

void TerminalProgress::note(std::string_view line) {
    if (line_open_) std::fputs("\r\033[K", stderr);
    line_open_ = false;
    std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    std::fflush(stderr);
}

void TerminalProgress::update(const ProgressUpdate& update) {
    const auto now = std::chrono::steady_clock::now();
    if (update.task != task_) {
        if (line_open_) std::fputs("\n", stderr);
        line_open_ = false;
        task_ = update.task;
        last_draw_ = now - std::chrono::hours(1);  // draw the first report at once
    }
    auto [found, added] = clocks_.try_emplace(std::string(update.task));
    Clock& clock = found->second;
    if (added || update.done < clock.last_done) clock = {update.done, update.done, now};
    clock.last_done = update.done;
    const bool finished = update.total > 0 && update.done >= update.total;
    if (!finished && std::chrono::duration<double>(now - last_draw_).count() < interval_seconds_) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - clock.start).count();
    const double rate = elapsed > 0 ? static_cast<double>(update.done - clock.first_done) / elapsed : 0.0;
    std::string count = fmt::format("{} {}", update.done, update.unit), timing;
    if (update.total > 0) {
        const double eta = rate > 0 ? static_cast<double>(update.total - update.done) / rate : NAN;
        count = fmt::format("{}/{} {} ({:.0f}%)", update.done, update.total, update.unit,
                            100.0 * static_cast<double>(update.done) / static_cast<double>(update.total));
        timing = fmt::format("elapsed {}, ETA {}", format_duration(elapsed), format_duration(eta));
    } else {
        timing = fmt::format("elapsed {}", format_duration(elapsed));
    }
    const std::string line = fmt::format("{}: {}, {:.2f} {}/s, {}{}{}", update.task, count, rate, update.unit, timing,
                                         update.detail.empty() ? "" : ", ", update.detail);
    if (terminal_) {
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
        line_open_ = true;
    } else {
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
}

}  // namespace cellscape::tools
