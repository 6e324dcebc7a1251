#include "cellscape/data/augmentation.hpp"

#include <torch/torch.h>

namespace cellscape {

torch::Tensor augment(const torch::Tensor& images, const AugmentationOptions& options) {
    if (!options.any() || images.dim() != 4) return images;
    const int64_t n = images.size(0), height = images.size(2), width = images.size(3);
    const auto index_options = torch::TensorOptions().dtype(torch::kInt64).device(images.device());
    torch::Tensor out = images;
    if (options.crop_padding > 0) {
        const int64_t p = options.crop_padding;
        const torch::Tensor padded = torch::constant_pad_nd(images, {p, p, p, p});
        // Per-sample offsets in [0, 2p]; gather rows then columns with index grids.
        const torch::Tensor dy = torch::randint(0, 2 * p + 1, {n}, index_options);
        const torch::Tensor dx = torch::randint(0, 2 * p + 1, {n}, index_options);
        const torch::Tensor rows = dy.view({n, 1}) + torch::arange(height, index_options).view({1, height});
        const torch::Tensor cols = dx.view({n, 1}) + torch::arange(width, index_options).view({1, width});
        const int64_t channels = images.size(1);
        torch::Tensor picked_rows =
            padded.gather(2, rows.view({n, 1, height, 1}).expand({n, channels, height, padded.size(3)}));
        out = picked_rows.gather(3, cols.view({n, 1, 1, width}).expand({n, channels, height, width}));
    }
    if (options.horizontal_flip) {
        const torch::Tensor flip = torch::rand({n}, images.options()).lt(0.5).view({n, 1, 1, 1});
        out = torch::where(flip, out.flip({3}), out);
    }
    if (options.cutout > 0) {
        const int64_t half = options.cutout / 2;
        const torch::Tensor cy = torch::randint(0, height, {n}, index_options).view({n, 1, 1, 1});
        const torch::Tensor cx = torch::randint(0, width, {n}, index_options).view({n, 1, 1, 1});
        const torch::Tensor y = torch::arange(height, index_options).view({1, 1, height, 1});
        const torch::Tensor x = torch::arange(width, index_options).view({1, 1, 1, width});
        // The square [c - half, c - half + side) in each dimension, clipped at the borders.
        const torch::Tensor inside = (y >= cy - half) & (y < cy - half + options.cutout) & (x >= cx - half) &
                                     (x < cx - half + options.cutout);
        out = out.masked_fill(inside, 0.0);
    }
    return out;
}

}  // namespace cellscape
