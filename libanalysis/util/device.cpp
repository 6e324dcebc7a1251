#include "util/device.hpp"

#include <fmt/format.h>

#include <thread>

#include "util/error.hpp"

namespace cellscape {

torch::Device parse_device(const std::string& name) {
    if (name == "cpu") return torch::kCPU;
    if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
        if (!torch::cuda::is_available())
            throw Error(fmt::format("--device {}: CUDA is not available (this cellscape is built against a CPU-only "
                                    "LibTorch, or the machine has no GPU); see docs/gpu.md, or use --device cpu",
                                    name));
        try {
            return torch::Device(name);
        } catch (const c10::Error&) {
            throw Error(fmt::format("--device {} is not a valid device (use cpu, cuda, cuda:N or auto)", name));
        }
    }
    throw Error(fmt::format("--device {} is not a valid device (use cpu, cuda, cuda:N or auto)", name));
}

void set_threads(int threads) {
    if (threads < 0) throw Error(fmt::format("--threads must be 0 (all cores) or positive, got {}", threads));
    const int count = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    torch::set_num_threads(count);
}

}  // namespace cellscape
