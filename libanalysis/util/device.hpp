#pragma once
// Choosing where torch computes: the --device and --threads options every
// torch-using command shares.
#include <torch/torch.h>

#include <string>

namespace cellscape {

// "cpu", "cuda", "cuda:N" or "auto" (CUDA when available). Throws Error when
// CUDA is asked for and this build or machine has none.
torch::Device parse_device(const std::string& name);

// Intra-op threads; 0 means one per hardware thread.
void set_threads(int threads);

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
