// The torch-free part of augmentation.hpp: its options as JSON.
#include "cellscape/data/augmentation.hpp"

namespace cellscape {

nlohmann::json AugmentationOptions::to_json() const {
    return {{"crop_padding", crop_padding}, {"horizontal_flip", horizontal_flip}, {"cutout", cutout}};
}

AugmentationOptions AugmentationOptions::from_json(const nlohmann::json& json) {
    AugmentationOptions options;
    options.crop_padding = json.at("crop_padding").get<int64_t>();
    options.horizontal_flip = json.at("horizontal_flip").get<bool>();
    options.cutout = json.at("cutout").get<int64_t>();
    return options;
}

}  // namespace cellscape
