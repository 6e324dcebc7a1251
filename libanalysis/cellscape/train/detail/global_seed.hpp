#pragma once
// LibTorch draws from its default generators (the CPU's and each GPU's)
// wherever an API takes no generator of its own: a torch::nn module's
// initial weights, torch::randperm and the augmentations' draws without
// one, bernoulli on a GPU. The trainer and seeded_network need those draws
// seeded, so that a seed alone decides a run; they seed them only inside a
// GlobalSeedScope, which gives the caller's generator states back when it
// ends (return or exception), so a host's random stream never depends on
// whether it trained or built a network. The one place the library calls
// torch::manual_seed (tests/test_structure.py).
#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <cstdint>
#include <mutex>
#include <vector>

namespace cellscape::detail {

class GlobalSeedScope {
public:
    GlobalSeedScope() {
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
    ~GlobalSeedScope() {
        for (std::size_t i = 0; i < generators_.size(); ++i) {
            const std::lock_guard<std::mutex> lock(generators_[i].mutex());
            generators_[i].set_state(states_[i]);
        }
    }
    GlobalSeedScope(const GlobalSeedScope&) = delete;
    GlobalSeedScope& operator=(const GlobalSeedScope&) = delete;

    // Seeds every default generator with `seed`, as torch::manual_seed does.
    void seed(uint64_t seed) const { torch::manual_seed(seed); }

private:
    std::vector<at::Generator> generators_;
    std::vector<at::Tensor> states_;
};

}  // namespace cellscape::detail
