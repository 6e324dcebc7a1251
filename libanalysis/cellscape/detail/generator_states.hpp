#pragma once
// Restoring LibTorch's default random generators after code that seeds
// them (rebuilding a run's initial network calls torch::manual_seed).
#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <torch/cuda.h>

#include <mutex>
#include <vector>

namespace cellscape::detail {

// The states of LibTorch's default generators (the CPU's and each GPU's,
// the ones torch::manual_seed seeds), restored when this goes out of scope:
// rebuilding a run's initial network seeds them, and a caller's random
// stream must not depend on having loaded a model.
class KeepGeneratorStates {
public:
    KeepGeneratorStates() {
        generators_.push_back(at::detail::getDefaultCPUGenerator());
        if (at::hasCUDA())
            for (int64_t i = 0; i < static_cast<int64_t>(torch::cuda::device_count()); ++i)
                generators_.push_back(at::globalContext().defaultGenerator(
                    at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i))));
        for (at::Generator& generator : generators_) {
            const std::lock_guard<std::mutex> lock(generator.mutex());
            states_.push_back(generator.get_state());
        }
    }
    ~KeepGeneratorStates() {
        for (std::size_t i = 0; i < generators_.size(); ++i) {
            const std::lock_guard<std::mutex> lock(generators_[i].mutex());
            generators_[i].set_state(states_[i]);
        }
    }
    KeepGeneratorStates(const KeepGeneratorStates&) = delete;
    KeepGeneratorStates& operator=(const KeepGeneratorStates&) = delete;

private:
    std::vector<at::Generator> generators_;
    std::vector<at::Tensor> states_;
};

}  // namespace cellscape::detail
