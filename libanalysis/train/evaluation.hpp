#pragma once
// Loss and accuracy of a classifier over a whole labelled set, in batches.
#include <torch/torch.h>

#include <functional>

namespace cellscape {

struct LossAndAccuracy {
    double loss = 0;      // mean cross-entropy over all samples
    double accuracy = 0;  // fraction correct
};

// `forward` maps a batch of inputs (already on `device`) to logits. Runs
// without autograd; the caller chooses train or eval mode.
LossAndAccuracy evaluate_classifier(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                    const torch::Tensor& inputs, const torch::Tensor& labels, int64_t batch_size,
                                    torch::Device device);

}  // namespace cellscape
