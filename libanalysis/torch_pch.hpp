#pragma once
// Precompiled header for every translation unit that uses LibTorch: its
// headers cost ~30 s per file to parse; precompiled, a few seconds.
#include <torch/script.h>
#include <torch/torch.h>
