#pragma once
// Images with their labels, as a dataset's split holds them (data/dataset.hpp)
// and the raw readers return them (data/detail/dataset_readers.hpp).
#include <torch/types.h>

#include <cstdint>

namespace cellscape {

struct LabelledImages {
    torch::Tensor images;  // float32
    torch::Tensor labels;  // int64
    int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

}  // namespace cellscape
