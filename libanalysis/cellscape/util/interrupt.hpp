#pragma once
// Turning SIGINT/SIGTERM into a request that long work checks at safe
// points (after a training step, after a surface point), so it can save what
// it has and stop cleanly. The flag is the one piece of process-wide state a
// signal handler can touch.
#include <string>

#include "cellscape/util/error.hpp"

namespace cellscape {

// While alive, SIGINT and SIGTERM set the flag instead of killing the
// process. Signal handling is the program's choice, not the library's: the
// library only reads the flag (requested()) at its safe points, and the
// program (tools/, a test) holds the guard around the work it may stop. The
// previous handlers come back when the outermost guard ends.
// Guards nest: an inner guard changes nothing, and a signal caught by an
// outer guard stays requested until the outermost one ends.
class InterruptGuard {
public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;

    static bool requested();
    static int signal_number();  // the signal that asked, 0 if none
};

// Thrown after the work was saved; the command exits with 128 + signal.
class Interrupted : public Error {
public:
    Interrupted(int signal_number, const std::string& message, std::string resume_from = {})
        : Error(message), signal_(signal_number), resume_from_(std::move(resume_from)) {}
    int signal_number() const { return signal_; }
    // The checkpoint to resume from, when the interrupted work was training.
    const std::string& resume_from() const { return resume_from_; }

private:
    int signal_;
    std::string resume_from_;
};

}  // namespace cellscape
