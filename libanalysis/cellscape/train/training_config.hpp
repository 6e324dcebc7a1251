#pragma once
// The settings of a training run (torch-free, so the command line can fill it
// in cheaply). Defaults are the paper's (docs/science.md section 4) where it has
// one: SGD, lr 0.025 cosine-annealed to 0, momentum 0.9, weight decay 3e-4,
// gradient-norm clipping at 5, batch 96, and regularization off.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "cellscape/data/augmentation.hpp"

namespace cellscape {

struct TrainingConfig {
    std::string dataset = "fashion-mnist";
    int64_t train_size = 0;  // 0: the whole training split
    int64_t test_size = 0;   // 0: the whole test split
    int64_t epochs = 10;
    int64_t batch_size = 96;
    int64_t eval_batch_size = 500;
    double learning_rate = 0.025;
    double min_learning_rate = 0.0;
    double momentum = 0.9;
    double weight_decay = 3e-4;
    double gradient_clip = 5.0;     // max global gradient norm; 0 turns clipping off
    double drop_path = 0.0;         // final drop-path probability, ramped linearly from 0
    double auxiliary_weight = 0.4;  // used when the network has the auxiliary head
    AugmentationOptions augmentation;
    uint64_t seed = 0;
    std::vector<int64_t> checkpoint_epochs;  // the last epoch is always checkpointed too

    nlohmann::json to_json() const;
    static TrainingConfig from_json(const nlohmann::json& json);
    // Throws Error naming the first setting that cannot work.
    void validate() const;
    // The learning rate of epoch `epoch` (0-based), cosine-annealed per epoch as DARTS does.
    double learning_rate_at(int64_t epoch) const;
};

// "1,5,10" -> {1, 5, 10}; throws Error on anything else.
std::vector<int64_t> parse_epoch_list(const std::string& text);

}  // namespace cellscape
