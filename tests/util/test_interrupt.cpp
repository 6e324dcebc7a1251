// Interrupt guards nest: only the outermost installs and restores handlers,
// and a request outlives the inner guards made after it. Signals are raised
// in this process with raise(), which runs the handler before it returns.
#include <catch2/catch.hpp>

#include <csignal>

#include "cellscape/util/interrupt.hpp"

using namespace cellscape;

namespace {

volatile std::sig_atomic_t host_saw = 0;
extern "C" void host_handler(int signal_number) { host_saw = signal_number; }

// The host program's own handler for `signal_number` while alive.
class HostHandler {
public:
    explicit HostHandler(int signal_number) : signal_(signal_number) {
        struct sigaction action {};
        action.sa_handler = host_handler;
        sigemptyset(&action.sa_mask);
        sigaction(signal_, &action, &previous_);
        host_saw = 0;
    }
    ~HostHandler() { sigaction(signal_, &previous_, nullptr); }

private:
    int signal_;
    struct sigaction previous_ {};
};

}  // namespace

TEST_CASE("after nested guards end, the host program's own handler gets the signal again") {
    const HostHandler host(SIGINT);
    {
        InterruptGuard outer;
        { InterruptGuard inner; }
        { InterruptGuard another; }
    }
    std::raise(SIGINT);
    CHECK(host_saw == SIGINT);
}

TEST_CASE("a signal between two inner guards stays requested for the next one") {
    const HostHandler host(SIGTERM);
    InterruptGuard study;
    { InterruptGuard training; }
    std::raise(SIGTERM);  // between training and the next analysis
    InterruptGuard analysis;
    CHECK(InterruptGuard::requested());
    CHECK(InterruptGuard::signal_number() == SIGTERM);
    CHECK(host_saw == 0);  // caught by the guards, not the host
}

TEST_CASE("a new outermost guard starts without an old request") {
    const HostHandler host(SIGTERM);
    {
        InterruptGuard first;
        std::raise(SIGTERM);
        CHECK(InterruptGuard::requested());
    }
    InterruptGuard second;
    CHECK_FALSE(InterruptGuard::requested());
}

TEST_CASE("a request ends with the guard that caught it: unguarded work after it is not stopped") {
    // The library holds no guard of its own (the program does) and reads requested() at its safe points:
    // a Ctrl-C caught by a finished command's guard must not stop the next library call.
    const HostHandler host(SIGINT);
    {
        InterruptGuard guard;
        std::raise(SIGINT);
        CHECK(InterruptGuard::requested());
    }
    CHECK_FALSE(InterruptGuard::requested());
    CHECK(InterruptGuard::signal_number() == 0);
}
