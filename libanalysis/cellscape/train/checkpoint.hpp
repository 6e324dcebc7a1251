#pragma once
// Training checkpoints (schema in docs/hdf5-schema.md):
// the genotype, the network and training configuration, every parameter and
// buffer by its module path, the optimizer's momentum buffers, the training
// history, and where in training the state was taken.
#include <torch/nn/module.h>
#include <torch/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/nn/network.hpp"
#include "cellscape/train/training_config.hpp"

namespace cellscape {

inline constexpr const char* checkpoint_format = "cellscape-checkpoint";
inline constexpr int64_t checkpoint_format_version = 1;

struct TrainingHistory {
    // One entry per optimizer step: the mini-batch cross-entropy of the main
    // classifier (without the auxiliary term), its accuracy, the learning rate.
    std::vector<double> step_loss, step_accuracy, step_learning_rate;
    // One entry per finished epoch. Train loss/accuracy: sample-weighted mean
    // over the epoch's steps (train mode, augmented); test: eval mode.
    std::vector<double> epoch_train_loss, epoch_train_accuracy, epoch_test_loss, epoch_test_accuracy,
        epoch_learning_rate, epoch_seconds;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct TrainingState {
    std::string cell_name;
    Genotype genotype;
    nn::NetworkConfig network;
    TrainingConfig training;
    int64_t epoch = 0;          // finished epochs
    int64_t step_in_epoch = 0;  // > 0: interrupted inside epoch `epoch` after this many steps
    torch::Tensor rng_state;    // torch's CPU generator at that point (mid-epoch states only)
    NamedTensors parameters, buffers, momentum;
    TrainingHistory history;
    // Provenance
    std::string train_indices_hash, test_indices_hash, device;
    // How the run that wrote it computed float32 on CUDA: "ieee", "tf32" or
    // "unused" (util/device.hpp); "unrecorded" in checkpoints from before.
    std::string cuda_float32 = "unrecorded";
    // As read from a checkpoint: hash_tensors of the parameters in the
    // network's order (as training writes them) or in name order.
    std::string weights_hash;
    int threads = 0;  // LibTorch threads the run used (resuming on another count is not bitwise)
    // Written by a packed run (train/packed_trainer.hpp): which pack, e.g.
    // "seeds 1,2,3,4 of DARTS_V2 as one packed network, member 2 of 4";
    // empty for a run that trained alone.
    std::string pack;

    bool complete() const { return epoch >= training.epochs && step_in_epoch == 0; }
};

void write_checkpoint(const std::filesystem::path& path, const TrainingState& state, const std::string& command);
TrainingState read_checkpoint(const std::filesystem::path& path);

// Parameters and buffers of a module by module path; and copying them back
// (Error naming the first missing or misshapen tensor).
NamedTensors named_parameters_of(torch::nn::Module& module);
// The name of the first floating-point tensor holding NaN or an infinity (nullptr when none does).
const std::string* first_non_finite(const NamedTensors& tensors);
NamedTensors named_buffers_of(torch::nn::Module& module);
void load_tensors(const NamedTensors& from, torch::nn::Module& into, bool buffers, const std::string& origin);

// The network of a checkpoint with its weights, on the CPU, checked with
// check_loaded_weights.
nn::DartsNetwork network_from_checkpoint(const TrainingState& state, const std::string& origin);

// The network a run of `state`'s settings starts from: seeded by the run's
// seed, before any step (the trainer builds it so; a study's zero-cost
// proxies rebuild it from any of the run's checkpoints).
nn::DartsNetwork initial_network(const TrainingState& state);

// The network a run of `genotype`, `config` and `seed` starts from (what
// initial_network builds): LibTorch's default generators seeded with `seed`,
// the network built, and the caller's generator states given back (so it
// disturbs no host's random stream). The generators are process-wide:
// callers on several threads build one network at a time.
nn::DartsNetwork seeded_network(const Genotype& genotype, const nn::NetworkConfig& config, uint64_t seed);

// After the checkpoint's parameters were loaded into `network`: Error when
// one is not finite, or when they do not hash to the checkpoint's
// weights_hash (the file was damaged or edited, or has tensors of another
// type that loading converted).
void check_loaded_weights(const TrainingState& state, torch::nn::Module& network, const std::string& origin);

// Which setting of a stored run differs from a new run's (the genotype, the
// network's size, the training settings; the checkpoint epochs, the classes
// and the input shape, which the data decides, do not count), as a phrase;
// none when the run was made with these settings.
std::optional<std::string> training_difference(const TrainingState& stored, const Genotype& genotype,
                                               const nn::NetworkConfig& network, const TrainingConfig& training,
                                               const std::string& now);

// A hash of tensors' names and bytes, for the weights_hash provenance attribute.
std::string hash_tensors(const NamedTensors& tensors);

}  // namespace cellscape
