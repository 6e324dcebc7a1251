#include "util/interrupt.hpp"

#include <csignal>

namespace cellscape {
namespace {

volatile std::sig_atomic_t interrupt_signal = 0;
struct sigaction previous_int, previous_term;

extern "C" void record_interrupt(int signal_number) { interrupt_signal = signal_number; }

}  // namespace

InterruptGuard::InterruptGuard() {
    interrupt_signal = 0;
    struct sigaction action {};
    action.sa_handler = record_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int);
    sigaction(SIGTERM, &action, &previous_term);
}

InterruptGuard::~InterruptGuard() {
    sigaction(SIGINT, &previous_int, nullptr);
    sigaction(SIGTERM, &previous_term, nullptr);
}

bool InterruptGuard::requested() { return interrupt_signal != 0; }

int InterruptGuard::signal_number() { return interrupt_signal; }

}  // namespace cellscape
