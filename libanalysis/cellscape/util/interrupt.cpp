#include "cellscape/util/interrupt.hpp"

#include <csignal>

namespace cellscape {
namespace {

// The request, and the handlers the outermost guard replaced. Guards nest
// (a study guards training and each analysis inside its own guard): only
// the outermost installs and restores, and clears the request when it
// starts and when it ends (a request belongs to the guard that caught it:
// work after it, unguarded, is not stopped by it), so a signal that lands
// between two inner guards is kept for the next check. Guards are made and
// ended on the main thread only.
volatile std::sig_atomic_t interrupt_signal = 0;
int depth = 0;
struct sigaction previous_int, previous_term;

extern "C" void record_interrupt(int signal_number) { interrupt_signal = signal_number; }

}  // namespace

InterruptGuard::InterruptGuard() {
    if (depth++ > 0) return;
    interrupt_signal = 0;
    struct sigaction action {};
    action.sa_handler = record_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int);
    sigaction(SIGTERM, &action, &previous_term);
}

InterruptGuard::~InterruptGuard() {
    if (--depth > 0) return;
    sigaction(SIGINT, &previous_int, nullptr);
    sigaction(SIGTERM, &previous_term, nullptr);
    interrupt_signal = 0;
}

bool InterruptGuard::requested() { return interrupt_signal != 0; }

int InterruptGuard::signal_number() { return interrupt_signal; }

}  // namespace cellscape
