// The process-wide float32 policy for CUDA, read back through LibTorch's own
// context (the independent reference: what cuDNN and cuBLAS consult). Runs
// without a GPU: the policy is plain state of LibTorch's global context.
#include <catch2/catch.hpp>

#include <ATen/Context.h>
#include <torch/torch.h>

#include "cellscape/util/device.hpp"

using namespace cellscape;

namespace {

at::Float32Precision precision_of(at::Float32Op op) {
    return at::globalContext().float32Precision(at::Float32Backend::CUDA, op);
}

// Puts back the policy a test found, since it is the whole process's.
class RestoreCudaFloat32 {
public:
    RestoreCudaFloat32()
        : conv_(precision_of(at::Float32Op::CONV)), matmul_(precision_of(at::Float32Op::MATMUL)) {}
    ~RestoreCudaFloat32() {
        at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV, conv_);
        at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL, matmul_);
    }
    RestoreCudaFloat32(const RestoreCudaFloat32&) = delete;
    RestoreCudaFloat32& operator=(const RestoreCudaFloat32&) = delete;

private:
    at::Float32Precision conv_, matmul_;
};

}  // namespace

TEST_CASE("the CUDA float32 policy sets what cuDNN's convolutions and cuBLAS's products may use") {
    const RestoreCudaFloat32 restore;
    // LibTorch's own default lets cuDNN's float32 convolutions use TF32: the
    // reason cellscape's command line sets the policy at all.
    set_cuda_float32(CudaFloat32::ieee);
    CHECK(precision_of(at::Float32Op::CONV) == at::Float32Precision::IEEE);
    CHECK(precision_of(at::Float32Op::MATMUL) == at::Float32Precision::IEEE);
    CHECK(cuda_float32() == CudaFloat32::ieee);

    set_cuda_float32(CudaFloat32::tf32);
    CHECK(precision_of(at::Float32Op::CONV) == at::Float32Precision::TF32);
    CHECK(precision_of(at::Float32Op::MATMUL) == at::Float32Precision::TF32);
    CHECK(cuda_float32() == CudaFloat32::tf32);

    // Either one on TF32 is reported as tf32: a file must not claim ieee then.
    set_cuda_float32(CudaFloat32::ieee);
    at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV, at::Float32Precision::TF32);
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
