#pragma once
// The channel layout of a packed network: K replicates of one DARTS network
// run as one network whose every feature map holds the K members' maps side
// by side along channels, member-major ([member][channel]), every
// convolution grouped by member, every BatchNorm over all K x C channels
// (its statistics are per channel, so per member) and the classifiers one
// per member (horizontal fusion, HFTA, MLSys 2021). Every parameter and
// buffer of the packed network is its members' tensors concatenated along
// dimension 0 (0-dimensional buffers, BatchNorm's step count, are shared):
// member k's tensor is the k-th of K equal slices (train/packed_trainer.hpp, pack_tensors).
//
// Grouping keeps each member's arithmetic its own: a convolution with
// groups = K x g computes, for group k, exactly the convolution of member
// k's channels with member k's filters. What needs care is concatenation:
// the plain torch::cat of two member-major maps gives [part][member][channel],
// and the next grouped convolution would read another member's channels. So
// every concatenation along channels in a packed network goes through
// concatenate_packed_channels.
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

namespace cellscape::nn {

// torch::cat(parts, 1) per member: each part is N x (K * c_i) x H x W,
// member-major; the result is N x (K * sum c_i) x H x W, member k's channels
// being its channels of each part in order. In the parts' memory layout
// (channels-last stays channels-last). pack = 1: concatenate_channels.
torch::Tensor concatenate_packed_channels(at::TensorList parts, int64_t pack);

// Channels [first, first + count) of every member of a member-major vector
// of K x `per_member` values (a BatchNorm's scale, say): K * count values.
torch::Tensor member_range(const torch::Tensor& values, int64_t pack, int64_t first, int64_t count);

// A linear layer per member: `layer` holds K members' weights stacked
// (K * out x in) and biases (K * out); `features` is N x (K * in),
// member-major. Returns N x (K * out): member k's outputs are its features
// through its weights. pack = 1: layer's own forward.
torch::Tensor packed_linear(const torch::nn::LinearImpl& layer, const torch::Tensor& features, int64_t pack);

// Whole-edge dropout's mask for a batch of `batch` samples: 1 with
// probability 1 - p, else 0, drawn from the default generator of `options`'
// device (what a network drops each edge with; a packed run's members draw
// theirs with it from their own streams, train/packed_trainer.cpp).
torch::Tensor drop_path_mask(int64_t batch, double probability, const torch::TensorOptions& options);

}  // namespace cellscape::nn
