#include "cellscape/train/training_config.hpp"

#include <fmt/format.h>

#include <cmath>
#include <sstream>

#include "cellscape/util/error.hpp"
#include "cellscape/util/seed.hpp"

namespace cellscape {

nlohmann::json TrainingConfig::to_json() const {
    return {{"dataset", dataset},
            {"train_size", train_size},
            {"test_size", test_size},
            {"epochs", epochs},
            {"batch_size", batch_size},
            {"eval_batch_size", eval_batch_size},
            {"learning_rate", learning_rate},
            {"min_learning_rate", min_learning_rate},
            {"momentum", momentum},
            {"weight_decay", weight_decay},
            {"gradient_clip", gradient_clip},
            {"drop_path", drop_path},
            {"auxiliary_weight", auxiliary_weight},
            {"augmentation", augmentation.to_json()},
            {"seed", seed},
            {"checkpoint_epochs", checkpoint_epochs}};
}

TrainingConfig TrainingConfig::from_json(const nlohmann::json& json) {
    TrainingConfig config;
    config.dataset = json.at("dataset").get<std::string>();
    config.train_size = json.at("train_size").get<int64_t>();
    config.test_size = json.at("test_size").get<int64_t>();
    config.epochs = json.at("epochs").get<int64_t>();
    config.batch_size = json.at("batch_size").get<int64_t>();
    config.eval_batch_size = json.at("eval_batch_size").get<int64_t>();
    config.learning_rate = json.at("learning_rate").get<double>();
    config.min_learning_rate = json.at("min_learning_rate").get<double>();
    config.momentum = json.at("momentum").get<double>();
    config.weight_decay = json.at("weight_decay").get<double>();
    config.gradient_clip = json.at("gradient_clip").get<double>();
    config.drop_path = json.at("drop_path").get<double>();
    config.auxiliary_weight = json.at("auxiliary_weight").get<double>();
    config.augmentation = AugmentationOptions::from_json(json.at("augmentation"));
    // The seed the run was seeded with: a whole number from 0 to 2^64 - 1
    // (runs before the seed rule took any uint64 as their seed). nlohmann reads
    // -1 as a number that get<uint64_t> would wrap to 2^64 - 1: refused.
    const nlohmann::json& seed = json.at("seed");
    if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<int64_t>() >= 0))
        throw Error(fmt::format("the stored training seed is {}, not a whole number from 0 to 2^64 - 1: the file is "
                                "damaged",
                                seed.dump()));
    config.seed = seed.get<uint64_t>();
    config.checkpoint_epochs = json.at("checkpoint_epochs").get<std::vector<int64_t>>();
    return config;
}

void TrainingConfig::validate() const {
    // Far beyond any real run, but small enough that step counts and
    // per-step histories cannot overflow or exhaust memory.
    constexpr int64_t most_epochs = 100000, largest_batch = 1 << 20;
    if (dataset.empty()) throw SettingError("dataset", "is empty: name a dataset, e.g. fashion-mnist");
    if (epochs < 1 || epochs > most_epochs)
        throw SettingError("epochs", fmt::format("must be between 1 and {} (got {})", most_epochs, epochs));
    if (batch_size < 1 || batch_size > largest_batch)
        throw SettingError("batch_size", fmt::format("must be between 1 and {} (got {})", largest_batch, batch_size));
    if (eval_batch_size < 1 || eval_batch_size > largest_batch)
        throw SettingError("eval_batch_size",
                           fmt::format("must be between 1 and {} (got {})", largest_batch, eval_batch_size));
    if (train_size < 0) throw SettingError("train_size", fmt::format("must not be negative (got {})", train_size));
    if (test_size < 0) throw SettingError("test_size", fmt::format("must not be negative (got {})", test_size));
    if (!(learning_rate > 0) || !std::isfinite(learning_rate))
        throw SettingError("learning_rate", fmt::format("must be a positive number (got {})", learning_rate));
    if (!(min_learning_rate >= 0) || min_learning_rate > learning_rate)
        throw SettingError("min_learning_rate", fmt::format("must be between 0 and the learning rate {} (got {})",
                                                            learning_rate, min_learning_rate));
    if (!(momentum >= 0 && momentum < 1))
        throw SettingError("momentum", fmt::format("must be in [0, 1) (got {})", momentum));
    if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
        throw SettingError("weight_decay", fmt::format("must be a number, not negative (got {})", weight_decay));
    if (!(gradient_clip >= 0) || !std::isfinite(gradient_clip))
        throw SettingError("gradient_clip", fmt::format("must be a number, not negative; 0 turns clipping off (got {})",
                                                        gradient_clip));
    if (!(drop_path >= 0 && drop_path < 1))
        throw SettingError("drop_path", fmt::format("must be in [0, 1) (got {})", drop_path));
    if (!(auxiliary_weight >= 0) || !std::isfinite(auxiliary_weight))
        throw SettingError("auxiliary_weight", fmt::format("must be a number, not negative (got {})", auxiliary_weight));
    if (augmentation.crop_padding < 0)
        throw SettingError("crop_padding", fmt::format("must not be negative (got {})", augmentation.crop_padding));
    if (augmentation.cutout < 0)
        throw SettingError("cutout", fmt::format("must not be negative (got {})", augmentation.cutout));
    for (int64_t epoch : checkpoint_epochs)
        if (epoch < 0 || epoch > epochs)
            throw SettingError("checkpoint_epochs",
                               fmt::format("names epoch {}, outside 0 (the initial weights) to the number of epochs "
                                           "({})",
                                           epoch, epochs));
}

double TrainingConfig::learning_rate_at(int64_t epoch) const {
    const double progress = static_cast<double>(epoch) / static_cast<double>(epochs);
    return min_learning_rate + (learning_rate - min_learning_rate) * (1.0 + std::cos(M_PI * progress)) / 2.0;
}

std::vector<int64_t> parse_epoch_list(const std::string& text) {
    std::vector<int64_t> epochs;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
        if (item.empty() || item.size() > 9 || item.find_first_not_of("0123456789") != std::string::npos)
            throw SettingError("checkpoint_epochs",
                               fmt::format("'{}': '{}' is not an epoch number; write e.g. 1,5,10", text, item));
        epochs.push_back(std::stoll(item));
    }
    return epochs;
}

}  // namespace cellscape
