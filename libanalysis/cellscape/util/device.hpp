#pragma once
// Choosing where torch computes, and what this LibTorch can use.
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "cellscape/util/names.hpp"

namespace cellscape {

// "cpu", "cuda", "cuda:N" or "auto" (CUDA when available). Throws
// SettingError naming `setting` for other text, and when CUDA is asked for
// and this build or machine has none.
torch::Device parse_device(const std::string& name, const std::string& setting = "device");

// SettingError naming `setting` when `device` is a CUDA device this process cannot use.
void require_available(const torch::Device& device, const std::string& setting = "device");

// LibTorch's intra-op threads for the whole process; 0 means one per
// hardware thread. A process-wide setting, so the library never calls it
// itself: the command line (or a host program) does, once. SettingError
// "threads" for a negative count or more than 4 per hardware thread.
void set_threads(int threads);

// How CUDA computes float32 convolutions and matrix products. LibTorch's own
// default for cuDNN's convolutions is TensorFloat-32: inputs rounded to a
// 10-bit mantissa (about 5e-4 relative per product), far coarser than the
// 1e-4 a Lanczos eigenvalue is asked for, and silently unlike the CPU's
// float32. ieee computes float32 as float32. Process-wide, so the library
// never calls it: the command line sets ieee unless told tf32 (a host
// program decides for itself). float64 and the CPU are not affected.
enum class CudaFloat32 { ieee, tf32 };
template <>
struct EnumNames<CudaFloat32> {
    static constexpr std::array<std::pair<std::string_view, CudaFloat32>, 2> values{
        {{"ieee", CudaFloat32::ieee}, {"tf32", CudaFloat32::tf32}}};
};
void set_cuda_float32(CudaFloat32 math);
// What this process's CUDA float32 convolutions and matrix products use now:
// tf32 when either of them may use TensorFloat-32.
CudaFloat32 cuda_float32();
// What float32 work on `device` in `dtype` runs as: "ieee" or "tf32" on
// CUDA in float32, else "unused". Output files record it.
std::string cuda_float32_used(const torch::Device& device, torch::ScalarType dtype);
// Whether a recorded cuda_float32 names a policy ("ieee", "tf32") rather than
// "unused" or an older checkpoint's "unrecorded".
bool is_cuda_float32_policy(const std::string& recorded);
// Whether work recorded as `before` and work done as `now` ran under
// different policies: both name one, and not the same.
bool cuda_float32_differs(const std::string& before, const std::string& now);

// Bytes the tensors of this process hold on `device` now: malloc's bytes in
// use on the CPU (LibTorch's CPU allocator is malloc; util/memory.hpp), the
// caching allocator's allocated bytes on an accelerator. nullopt when not
// known (a malloc other than glibc's or tcmalloc).
std::optional<int64_t> allocated_bytes(const torch::Device& device);
// Bytes `device` can still give this process: MemAvailable plus the freed
// memory malloc keeps for reuse (util/memory.hpp) on the CPU, the free
// memory on an accelerator. nullopt when not known.
std::optional<int64_t> free_bytes(const torch::Device& device);

// What the LibTorch this program runs on was built with, and what it sees.
struct TorchBuild {
    std::string libtorch_version;  // e.g. "2.11.0"
    bool cuda_compiled = false;    // LibTorch's CUDA library is linked in and registered
    std::string cuda_version;      // the CUDA runtime LibTorch was built for ("13.0"); empty without CUDA
    std::string cudnn_version;     // the cuDNN it was built for ("9.19.0"); empty without cuDNN
    int cuda_devices = 0;          // GPUs visible to this process
    bool cudnn_available = false;  // cuDNN loads and a GPU is visible
};
TorchBuild describe_torch_build();

}  // namespace cellscape
