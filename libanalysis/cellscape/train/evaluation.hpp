#pragma once
// Loss and accuracy of a classifier over a whole labelled set, in batches.
#include <torch/types.h>

#include <functional>

namespace cellscape {

struct LossAndAccuracy {
    double loss = 0;      // mean cross-entropy over all samples
    double accuracy = 0;  // fraction correct
};

// Sums cross-entropy and correct predictions over batches of logits.
class ClassifierTally {
public:
    void add(const torch::Tensor& logits, const torch::Tensor& labels);
    LossAndAccuracy mean() const;  // NaN for both when nothing was added

private:
    double loss_sum_ = 0, correct_ = 0;
    int64_t samples_ = 0;
};

// `forward` maps a batch of inputs (already on `device`) to logits. Runs
// without autograd; the caller chooses train or eval mode.
LossAndAccuracy evaluate_classifier(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                    const torch::Tensor& inputs, const torch::Tensor& labels, int64_t batch_size,
                                    torch::Device device);

}  // namespace cellscape
