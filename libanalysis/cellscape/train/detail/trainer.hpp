#pragma once
// What a training run does for each replicate it trains, shared by
// train_network (one network) and train_packed (train/packed_trainer.hpp,
// several replicates as one packed network): the settings and data a run
// starts from, its random streams' seeds, and its records (history,
// checkpoints, the messages on interruption and failure).
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/data/dataset.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/evaluation.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape::detail {

// Each epoch draws its order, augmentation and drop-path masks from its own
// seed, so epochs do not depend on how earlier ones were run (SplitMix64 mix).
uint64_t epoch_seed(uint64_t seed, int64_t epoch);

NamedTensors to_cpu_copies(const NamedTensors& tensors);
// The optimizer's momentum buffers by parameter name (CPU copies); and back.
NamedTensors momentum_of(torch::optim::SGD& optimizer, const NamedTensors& parameters);
void restore_momentum(torch::optim::SGD& optimizer, const NamedTensors& parameters, const NamedTensors& stored);

// A run ready to start, after its output directory is locked: where it
// starts (the checkpoint it resumes, or none), its state (settings
// validated, provenance set, the network's shape taken from the data), and
// its data. Notes a continued run and a resume on other threads or float32
// policy to `progress`.
struct PreparedRun {
    std::optional<std::filesystem::path> start;
    TrainingState state;
    Dataset dataset;
};
PreparedRun prepare_run(const TrainingRequest& request);

// train_network's run once the output directory is locked and the run
// prepared (a packed run's member left to train alone).
TrainingSummary run_prepared(const TrainingRequest& request, PreparedRun prepared);

// SettingError before any work when `members` networks of the state's
// settings training side by side cannot fit in this machine's memory.
void check_memory(const TrainingState& state, int64_t members);

// The tensors a checkpoint stores, as CPU copies.
struct WeightsSnapshot {
    NamedTensors parameters, buffers, momentum;
};

// One replicate's records: its state (history, where it is), its data and
// its checkpoints, written in today's format whether it trains alone or
// packed with others.
class ReplicateRecord {
public:
    ReplicateRecord(const TrainingRequest& request, PreparedRun prepared);

    TrainingState& state() { return state_; }
    const TrainingState& state() const { return state_; }
    const Dataset& dataset() const { return dataset_; }
    const TrainingConfig& config() const { return state_.training; }
    const std::optional<std::filesystem::path>& resumed() const { return resumed_; }
    const std::filesystem::path& latest() const { return latest_; }
    int64_t samples() const { return dataset_.train.size(); }
    int64_t steps_per_epoch() const { return (samples() + config().batch_size - 1) / config().batch_size; }
    // Whether the run keeps a checkpoint file of `epoch`: the last epoch's always, and the checkpoint epochs'.
    bool keeps_checkpoint(int64_t epoch) const;

    // The network the run starts from, on the CPU: its seed's, with the
    // resumed checkpoint's weights loaded and checked.
    nn::DartsNetwork starting_network() const;
    // Before the first step: the disk check, then the checkpoints the run
    // still owes (epoch 0's initial weights, a resumed epoch's file).
    void begin(const WeightsSnapshot& current, const ProgressTask& progress);
    void record_step(const TrainingStepResult& result, double learning_rate);
    // The end of epoch `epoch` (0-based): the epoch's means and test result,
    // the finiteness check, latest.h5 and the epoch's own checkpoint. Returns
    // the epoch's summary line.
    std::string finish_epoch(int64_t epoch, double seconds, const LossAndAccuracy& test, WeightsSnapshot weights);
    // latest.h5 after `step` steps of epoch `epoch`, with the random stream's state.
    void save_interrupted(int64_t epoch, int64_t step, const torch::Tensor& rng_state, WeightsSnapshot weights);
    // The sentence of a non-finite training loss, naming the last good state.
    std::string non_finite_loss_message(double loss, int64_t epoch, int64_t step, double learning_rate) const;
    TrainingSummary summary(int64_t parameters, double seconds) const;

private:
    void write(const std::filesystem::path& path);
    void rebuild_initial_checkpoint(const ProgressTask& progress);

    const TrainingRequest& request_;
    std::optional<std::filesystem::path> resumed_;
    TrainingState state_;
    Dataset dataset_;
    std::filesystem::path latest_;
    std::vector<std::filesystem::path> written_;
};

}  // namespace cellscape::detail
