#pragma once
// Packed replicates: several seeds of one cell trained as one network.
//
// A network of 8 channels leaves a CPU's vector units and a GPU mostly idle;
// K replicates of one cell, differing only in their seeds, run as one
// packed network (nn/packed_layout.hpp: every convolution grouped by
// member, every BatchNorm over the members' channels, a classifier per
// member) take one pass where K networks took K. The loss is the sum of
// the members' losses, so each member's gradient is its own; gradient
// clipping is per member, and SGD's update is elementwise. Each member
// draws its data order, augmentation and drop-path masks from its own seed's
// stream, as its own run would (on a GPU its own run draws the masks from
// the GPU's generator, a packed member from its CPU stream). So every member trains as train_network
// would train it alone: in float64 to rounding (the grouped kernels add in
// another order), in float32 to float32's rounding carried through training
// (tests/train/test_packed_training.cpp states both tolerances).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/optim/sgd.h>
#include <torch/types.h>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/nn/network.hpp"
#include "cellscape/nn/network_config.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/train/training_config.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {

struct PackedTrainingRequest {
    NamedGenotype cell;
    nn::NetworkConfig network;
    TrainingConfig training;                      // every member's settings; each member's seed is its own
    std::vector<uint64_t> seeds;                  // the members
    std::vector<std::filesystem::path> out_dirs;  // one per seed: where its run's files go
    torch::Device device = torch::kCPU;
    std::string command;
    ProgressSink* progress = nullptr;
};

// Trains each seed's replicate into its directory, with the files,
// history, resume and interruption of train_network (the checkpoints gain a
// `pack` attribute naming the pack). Members at the same point (a fresh
// start, or resumed at the same step) train as one packed network; a
// finished member is left as it is; members at different points (a kill
// between two members' checkpoint writes) train in packs of those at the
// same point. SettingError before any work for settings no run can use, a
// seed given twice, or a pack that does not fit in memory. Returns the
// members' summaries in the order of `seeds`.
std::vector<TrainingSummary> train_packed(const PackedTrainingRequest& request);

// The packed network's tensors from its members' (the same names in the
// same order, each member's tensor one slice along dimension 0; a
// 0-dimensional tensor, equal in every member, is shared), and member k's
// tensors from the packed ones (copies).
NamedTensors pack_tensors(const std::vector<NamedTensors>& members);
NamedTensors member_tensors(const NamedTensors& packed, int64_t member, int64_t pack);

// training_step for a packed network of K members: `images` is
// N x (K * channels) x H x W (member k's batch in its channels), `labels`
// N x K. The members' losses (with their auxiliary terms) summed, backward,
// each member's gradient clipped by its own norm, the optimizer's step.
// Returns each member's loss and accuracy; when any loss is not finite, the
// weights stay as they were.
std::vector<TrainingStepResult> packed_training_step(nn::DartsNetwork& network, torch::optim::SGD& optimizer,
                                                     const torch::Tensor& images, const torch::Tensor& labels,
                                                     const TrainingConfig& config);

}  // namespace cellscape
