#pragma once
// Directions in weight space for loss surfaces (docs/science.md section 4): one
// tensor per selected parameter, named like the parameter. Random Gaussian
// directions are rescaled to the weights so that a step of 1 means the same
// relative change in every filter, whatever its scale (Li et al.'s filter
// normalization); that is what makes surfaces of different cells comparable.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "cellscape/train/checkpoint.hpp"
#include "cellscape/util/names.hpp"

namespace cellscape {

enum class DirectionNorm {
    filter,  // each slice along dimension 0 gets the norm of the matching weight slice
    layer,   // each tensor gets the norm of its weight tensor
    none,    // used as drawn (or as read)
};
template <>
struct EnumNames<DirectionNorm> {
    static constexpr std::array<std::pair<std::string_view, DirectionNorm>, 3> values{
        {{"filter", DirectionNorm::filter}, {"layer", DirectionNorm::layer}, {"none", DirectionNorm::none}}};
};

// A Gaussian direction shaped like `weights`, drawn in order of the weights
// from `generator` (CPU, float64 draws converted to the weights' dtype).
NamedTensors random_direction(const NamedTensors& weights, at::Generator& generator);

// Rescales `direction` to `weights` as `norm` says. With `ignore_bias_and_bn`
// every tensor of dimension 1 or less (biases, BatchNorm scales and shifts)
// becomes zero, so the surface moves only convolution and linear weights.
// Slices whose direction is zero stay zero.
void normalize_direction(NamedTensors& direction, const NamedTensors& weights, DirectionNorm norm,
                         bool ignore_bias_and_bn);

class Hdf5File;

// The direction stored as one dataset per parameter under `group` of `file`
// (a surface's `xdirection`, a Hessian file's `eigenvectors/0`), matched to
// `weights` by name and shape, in the weights' dtype and device.
NamedTensors read_direction(const Hdf5File& file, const std::string& group, const NamedTensors& weights);

// Eigenvector `index` of a Hessian file written with its eigenvectors (EigenOptions::keep_vectors).
NamedTensors hessian_direction(const std::filesystem::path& hessian_file, int64_t index, const NamedTensors& weights);

// The difference `target - weights` per tensor, `target` matched by name
// (for interpolating from one checkpoint to another).
NamedTensors difference_direction(const NamedTensors& target, const NamedTensors& weights,
                                  const std::string& target_origin);

}  // namespace cellscape
