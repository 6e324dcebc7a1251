#include "cellscape/train/evaluation.hpp"

namespace cellscape {

void ClassifierTally::add(const torch::Tensor& logits, const torch::Tensor& labels) {
    namespace F = torch::nn::functional;
    loss_sum_ += F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    correct_ += logits.argmax(1).eq(labels).sum().item<double>();
    samples_ += labels.size(0);
}

LossAndAccuracy ClassifierTally::mean() const {
    if (samples_ == 0) return {NAN, NAN};
    const auto n = static_cast<double>(samples_);
    return {loss_sum_ / n, correct_ / n};
}

LossAndAccuracy evaluate_classifier(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                    const torch::Tensor& inputs, const torch::Tensor& labels, int64_t batch_size,
                                    torch::Device device) {
    torch::NoGradGuard no_grad;
    ClassifierTally tally;
    for (int64_t start = 0; start < inputs.size(0); start += batch_size) {
        const int64_t size = std::min(batch_size, inputs.size(0) - start);
        tally.add(forward(inputs.narrow(0, start, size).to(device)), labels.narrow(0, start, size).to(device));
    }
    return tally.mean();
}

}  // namespace cellscape
