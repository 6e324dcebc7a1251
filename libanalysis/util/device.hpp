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

}  // namespace cellscape
