// The process-wide float32 policy for CUDA, read back through LibTorch's own
// context (the independent reference: what cuDNN's convolutions and cuBLAS's
// products consult), through both its newer per-operation precisions and its
// older switches. Runs without a GPU: the policy is plain state of LibTorch's
// global context.
#include <catch2/catch.hpp>

#include <ATen/Context.h>
#include <torch/torch.h>

#include "cellscape/util/device.hpp"
#include "support/restore_cuda_float32.hpp"

using namespace cellscape;
using testing::cuda_precision;
using testing::RestoreCudaFloat32;

TEST_CASE("the CUDA float32 policy sets what cuDNN's convolutions and cuBLAS's products may use") {
    const RestoreCudaFloat32 restore;
    auto& context = at::globalContext();
    // LibTorch's own default lets cuDNN's float32 convolutions use TF32: the
    // reason cellscape's command line sets the policy at all.
    set_cuda_float32(CudaFloat32::ieee);
    CHECK(cuda_precision(at::Float32Op::CONV) != at::Float32Precision::TF32);
    CHECK(cuda_precision(at::Float32Op::MATMUL) != at::Float32Precision::TF32);
    CHECK_FALSE(context.allowTF32CuDNN(at::Float32Op::CONV));  // what the convolutions ask
    CHECK_FALSE(context.allowTF32CuDNN());                     // a host program's older reads still work
    CHECK_FALSE(context.allowTF32CuBLAS());
    CHECK(cuda_float32() == CudaFloat32::ieee);

    set_cuda_float32(CudaFloat32::tf32);
    CHECK(cuda_precision(at::Float32Op::CONV) == at::Float32Precision::TF32);
    CHECK(cuda_precision(at::Float32Op::MATMUL) == at::Float32Precision::TF32);
    CHECK(context.allowTF32CuDNN(at::Float32Op::CONV));
    CHECK(context.allowTF32CuDNN());
    CHECK(context.allowTF32CuBLAS());
    CHECK(cuda_float32() == CudaFloat32::tf32);

    // Either one on TF32 is reported as tf32: a file must not claim ieee then.
    set_cuda_float32(CudaFloat32::ieee);
    context.setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV, at::Float32Precision::TF32);
    CHECK(cuda_float32() == CudaFloat32::tf32);
}

TEST_CASE("files record the CUDA float32 policy only where it applies") {
    const RestoreCudaFloat32 restore;
    set_cuda_float32(CudaFloat32::tf32);
    CHECK(cuda_float32_used(torch::Device("cuda:0"), torch::kFloat32) == "tf32");
    CHECK(cuda_float32_used(torch::Device("cuda:0"), torch::kFloat64) == "unused");
    CHECK(cuda_float32_used(torch::kCPU, torch::kFloat32) == "unused");
    set_cuda_float32(CudaFloat32::ieee);
    CHECK(cuda_float32_used(torch::Device("cuda"), torch::kFloat32) == "ieee");
}
