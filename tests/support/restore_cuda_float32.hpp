#pragma once
// Puts back LibTorch's CUDA float32 policy as a test found it: the policy is
// the whole process's, and a test must not leave it changed. Restored
// through the same switches util/device.cpp sets.
#include <ATen/Context.h>

namespace cellscape::testing {

inline at::Float32Precision cuda_precision(at::Float32Op op) {
    return at::globalContext().float32Precision(at::Float32Backend::CUDA, op);
}

class RestoreCudaFloat32 {
public:
    RestoreCudaFloat32()
        : conv_tf32_(cuda_precision(at::Float32Op::CONV) == at::Float32Precision::TF32),
          matmul_tf32_(cuda_precision(at::Float32Op::MATMUL) == at::Float32Precision::TF32) {}
    ~RestoreCudaFloat32() {
        at::globalContext().setAllowTF32CuDNN(conv_tf32_);
        at::globalContext().setAllowTF32CuBLAS(matmul_tf32_);
    }
    RestoreCudaFloat32(const RestoreCudaFloat32&) = delete;
    RestoreCudaFloat32& operator=(const RestoreCudaFloat32&) = delete;

private:
    bool conv_tf32_, matmul_tf32_;
};

}  // namespace cellscape::testing
