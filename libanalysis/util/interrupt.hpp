#pragma once
// Turning SIGINT/SIGTERM into a request that long work checks at safe
// points (after a training step, after a surface point), so it can save what
// it has and stop cleanly. The flag is the one piece of process-wide state a
// signal handler can touch.
#include <string>

#include "util/error.hpp"

namespace cellscape {

// While alive, SIGINT and SIGTERM set the flag instead of killing the
// process; the previous handlers come back on destruction.
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
    Interrupted(int signal_number, const std::string& message) : Error(message), signal_(signal_number) {}
    int signal_number() const { return signal_; }

private:
    int signal_;
};

}  // namespace cellscape
