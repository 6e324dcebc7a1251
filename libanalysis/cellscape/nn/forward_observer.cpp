#include "cellscape/nn/forward_observer.hpp"

namespace cellscape::nn {
namespace {
thread_local ForwardObserver* current_observer = nullptr;
}  // namespace

ForwardObserver* forward_observer() { return current_observer; }

ForwardObserverGuard::ForwardObserverGuard(ForwardObserver& observer) : previous_(current_observer) {
    current_observer = &observer;
}

ForwardObserverGuard::~ForwardObserverGuard() { current_observer = previous_; }

void observe_rectifier_input(const torch::Tensor& input) {
    if (current_observer) current_observer->rectifier_input(input);
}

torch::Tensor observe_layer_output(const torch::Tensor& weight, const torch::Tensor& output) {
    return current_observer ? current_observer->layer_output(weight, output) : output;
}

}  // namespace cellscape::nn
