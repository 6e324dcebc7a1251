#include "util/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace cellscape {

std::string format_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    const auto total = static_cast<int64_t>(std::llround(seconds));
    const int64_t hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
    return hours > 0 ? fmt::format("{}:{:02}:{:02}", hours, minutes, secs) : fmt::format("{}:{:02}", minutes, secs);
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), terminal_(isatty(STDERR_FILENO) == 1) {
    // CELLSCAPE_PROGRESS_SECONDS overrides how often plain lines appear.
    const char* interval = std::getenv("CELLSCAPE_PROGRESS_SECONDS");
    interval_seconds_ = terminal_ ? 0.2 : (interval ? std::atof(interval) : 10.0);
    start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
    if (line_open_) std::fputs("\n", stderr);
}

void Progress::update(int64_t done, const std::string& detail) { draw(done, detail, total_ > 0 && done >= total_); }

void Progress::note(const std::string& line) {
    if (line_open_) std::fputs("\r\033[K", stderr);
    line_open_ = false;
    std::fputs((line + "\n").c_str(), stderr);
    std::fflush(stderr);
}

void Progress::draw(int64_t done, const std::string& detail, bool force) {
    const auto now = std::chrono::steady_clock::now();
    if (start_done_ < 0) {  // rates count from the first update, so a resumed run reports honestly
        start_done_ = done;
        start_ = now;
    }
    const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
    if (!force && since_draw < interval_seconds_) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done - start_done_) / elapsed : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : NAN;
    const std::string count =
        total_ > 0 ? fmt::format("{}/{} {} ({:.0f}%)", done, total_, unit_,
                                 100.0 * static_cast<double>(done) / static_cast<double>(total_))
                   : fmt::format("{} {}", done, unit_);
    const std::string timing = total_ > 0 ? fmt::format("elapsed {}, ETA {}", format_duration(elapsed), format_duration(eta))
                                          : fmt::format("elapsed {}", format_duration(elapsed));
    const std::string line = fmt::format("{}: {}, {:.2f} {}/s, {}{}{}", label_, count, rate, unit_, timing,
                                         detail.empty() ? "" : ", ", detail);
    if (terminal_) {
        std::fputs(("\r\033[K" + line).c_str(), stderr);
        line_open_ = true;
    } else {
        std::fputs((line + "\n").c_str(), stderr);
    }
    std::fflush(stderr);
}

}  // namespace cellscape
