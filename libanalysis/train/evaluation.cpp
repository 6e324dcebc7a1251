#include "train/evaluation.hpp"

namespace cellscape {

LossAndAccuracy evaluate_classifier(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                    const torch::Tensor& inputs, const torch::Tensor& labels, int64_t batch_size,
                                    torch::Device device) {
    torch::NoGradGuard no_grad;
    const int64_t n = inputs.size(0);
    double loss_sum = 0, correct = 0;
    for (int64_t start = 0; start < n; start += batch_size) {
        const int64_t size = std::min(batch_size, n - start);
        const torch::Tensor x = inputs.narrow(0, start, size).to(device);
        const torch::Tensor y = labels.narrow(0, start, size).to(device);
        const torch::Tensor logits = forward(x);
        loss_sum += torch::nn::functional::cross_entropy(
                        logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                        .item<double>();
        correct += logits.argmax(1).eq(y).sum().item<double>();
    }
    return {n > 0 ? loss_sum / static_cast<double>(n) : NAN, n > 0 ? correct / static_cast<double>(n) : NAN};
}

}  // namespace cellscape
