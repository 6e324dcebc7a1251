#include "cellscape/util/device.hpp"

#include <ATen/Context.h>
#include <ATen/DeviceAccelerator.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <thread>

#include "cellscape/util/error.hpp"
#include "cellscape/util/memory.hpp"

namespace cellscape {

torch::Device parse_device(const std::string& name, const std::string& setting) {
    torch::Device device = torch::kCPU;
    if (name == "auto") {
        if (torch::cuda::is_available()) device = torch::Device(torch::kCUDA);
    } else if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
        try {
            device = torch::Device(name);
        } catch (const c10::Error&) {
            throw SettingError(setting, fmt::format("'{}' is not a device: use cpu, cuda, cuda:N or auto", name));
        }
    } else if (name != "cpu") {
        throw SettingError(setting, fmt::format("'{}' is not a device: use cpu, cuda, cuda:N or auto", name));
    }
    require_available(device, setting);
    return device;
}

void require_available(const torch::Device& device, const std::string& setting) {
    if (!device.is_cuda()) {
        if (!device.is_cpu())
            throw SettingError(setting, fmt::format("{} is not supported: use the CPU or a CUDA device", device.str()));
        return;
    }
    if (!torch::cuda::is_available())
        throw SettingError(setting, fmt::format("{}: CUDA is not available (this cellscape is built against a CPU-only "
                                                "LibTorch, or the machine has no GPU); see docs/gpu.md, or use the CPU",
                                                device.str()));
    const auto count = static_cast<int>(torch::cuda::device_count());
    if (device.has_index() && device.index() >= count)
        throw SettingError(setting, fmt::format("{}: this machine has {} GPU(s), cuda:0 to cuda:{}", device.str(), count,
                                                count - 1));
}

void set_threads(int threads) {
    const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (threads < 0)
        throw SettingError("threads", fmt::format("must be 0 (one per hardware thread) or positive, got {}", threads));
    if (threads > 4 * hardware)
        throw SettingError("threads", fmt::format("is {} but this machine has {} hardware threads: use at most {} "
                                                  "(0: one per hardware thread)",
                                                  threads, hardware, 4 * hardware));
    torch::set_num_threads(threads > 0 ? threads : hardware);
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

void set_cuda_float32(CudaFloat32 math) {
    // Through LibTorch's older switches, which set the newer per-operation
    // precisions too (cuDNN's convolutions and RNNs alike, cuBLAS's products
    // with the matmul precision): a host program's reads through either API
    // then agree, where setting only the convolutions' new precision makes
    // the old getters throw on the mismatch.
    auto& context = at::globalContext();
    context.setAllowTF32CuDNN(math == CudaFloat32::tf32);
    context.setAllowTF32CuBLAS(math == CudaFloat32::tf32);
}

CudaFloat32 cuda_float32() {
    const auto& context = at::globalContext();
    const bool tf32 =
        context.float32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV) == at::Float32Precision::TF32 ||
        context.float32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL) == at::Float32Precision::TF32;
    return tf32 ? CudaFloat32::tf32 : CudaFloat32::ieee;
}

std::string cuda_float32_used(const torch::Device& device, torch::ScalarType dtype) {
    if (!device.is_cuda() || dtype != torch::kFloat32) return "unused";
    return std::string(name_of(cuda_float32()));
}

bool is_cuda_float32_policy(const std::string& recorded) { return recorded == "ieee" || recorded == "tf32"; }

bool cuda_float32_differs(const std::string& before, const std::string& now) {
    return is_cuda_float32_policy(before) && is_cuda_float32_policy(now) && before != now;
}

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

namespace {

c10::DeviceIndex index_of(const torch::Device& device) {
    return device.has_index() ? device.index() : at::accelerator::getDeviceIndex();
}

}  // namespace

std::optional<int64_t> allocated_bytes(const torch::Device& device) {
    if (device.is_cpu()) return malloc_bytes_in_use();
    const auto stats = at::getDeviceAllocator(device.type())->getDeviceStats(index_of(device));
    return stats.allocated_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)].current;
}

std::optional<int64_t> free_bytes(const torch::Device& device) {
    if (device.is_cpu()) {
        const auto available = available_memory_bytes();
        if (!available) return std::nullopt;
        return *available + malloc_bytes_kept_free().value_or(0);
    }
    auto* allocator = at::getDeviceAllocator(device.type());
    const auto index = index_of(device);
    const auto stats = allocator->getDeviceStats(index);
    const auto aggregate = static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    const int64_t cached = stats.reserved_bytes[aggregate].current - stats.allocated_bytes[aggregate].current;
    return static_cast<int64_t>(allocator->getMemoryInfo(index).first) + cached;
}

}  // namespace cellscape
