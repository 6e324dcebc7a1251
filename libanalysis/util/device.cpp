#include "util/device.hpp"

#include <ATen/detail/CUDAHooksInterface.h>
#include <fmt/format.h>
#include <torch/version.h>

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

namespace {

// CUDART_VERSION: 1000 * major + 10 * minor.
std::string cuda_version_text(long version) { return fmt::format("{}.{}", version / 1000, version % 1000 / 10); }

// CUDNN_VERSION: 10000 * major + 100 * minor + patch from cuDNN 9 on,
// 1000 * major + 100 * minor + patch before.
std::string cudnn_version_text(long version) {
    if (version >= 90000) return fmt::format("{}.{}.{}", version / 10000, version % 10000 / 100, version % 100);
    return fmt::format("{}.{}.{}", version / 1000, version % 1000 / 100, version % 100);
}

}  // namespace

TorchBuild describe_torch_build() {
    TorchBuild build;
    build.libtorch_version = TORCH_VERSION;
    // LibTorch's CUDA library registers these hooks when it is loaded; without
    // it they are the stub that says CUDA is not built.
    const auto& hooks = at::detail::getCUDAHooks();
    build.cuda_compiled = hooks.isBuilt();
    if (build.cuda_compiled) {
        build.cuda_version = cuda_version_text(hooks.versionCUDART());
        if (hooks.compiledWithCuDNN()) build.cudnn_version = cudnn_version_text(hooks.versionCuDNN());
    }
    build.cuda_devices = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
    build.cudnn_available = build.cuda_devices > 0 && torch::cuda::cudnn_is_available();
    return build;
}

}  // namespace cellscape
