#pragma once
// Training-time augmentation of a whole batch at once (no per-sample loop):
// random crop with zero padding, horizontal flip, cutout. Randomness comes
// from torch's default generator, which the trainer seeds per epoch.
#include <nlohmann/json.hpp>

#include <cstdint>

namespace at {
class Tensor;
}

namespace cellscape {

struct AugmentationOptions {
    int64_t crop_padding = 0;      // pad by this many pixels, crop back at a random offset
    bool horizontal_flip = false;  // flip each image with probability 1/2
    int64_t cutout = 0;            // zero a square of this side at a random centre (clipped at borders)

    bool any() const { return crop_padding > 0 || horizontal_flip || cutout > 0; }
    nlohmann::json to_json() const;
    static AugmentationOptions from_json(const nlohmann::json& json);
};

// `images` is N x C x H x W (normalized); returns the augmented batch.
at::Tensor augment(const at::Tensor& images, const AugmentationOptions& options);

}  // namespace cellscape
