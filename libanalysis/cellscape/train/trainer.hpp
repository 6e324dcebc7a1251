#pragma once
// Training a DARTS network from a genotype, with checkpoints, resume, NaN
// guard and clean interruption (SIGINT/SIGTERM).
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <torch/optim/sgd.h>
#include <torch/types.h>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/nn/network.hpp"
#include "cellscape/nn/network_config.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/training_config.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {

struct TrainingRequest {
    NamedGenotype cell;
    nn::NetworkConfig network;  // classes and input shape are taken from the dataset
    TrainingConfig training;
    std::filesystem::path out_dir;
    std::optional<std::filesystem::path> resume;  // a checkpoint to continue from (its settings, not these)
    torch::Device device = torch::kCPU;
    std::string command;              // the command line, stored in every checkpoint
    ProgressSink* progress = nullptr;  // steps and epoch summaries; null: none
};

struct TrainingSummary {
    std::string cell_name;
    std::filesystem::path out_dir;
    std::vector<std::filesystem::path> checkpoints;  // written by this run, in order
    std::filesystem::path final_checkpoint;
    int64_t epochs = 0;
    int64_t parameters = 0;
    double final_train_loss = 0, final_train_accuracy = 0, final_test_loss = 0, final_test_accuracy = 0;
    double seconds = 0;  // wall time of this run
};

// Trains per `request`. Writes DIR/epoch-NNNN.h5 at the checkpoint epochs
// and the last, and DIR/latest.h5 after every epoch and on interruption.
// When DIR/latest.h5 holds a run with the request's settings, it continues
// that run (rerunning a command resumes it; a finished run is left as it
// is); a run with other settings there is refused, naming the difference.
// Throws Interrupted (after saving) on SIGINT/SIGTERM while the caller holds
// an InterruptGuard (util/interrupt.hpp), Error on a NaN loss
// (keeping the last good checkpoint), SettingError for settings no run can
// use or a network that does not fit in memory, before any work. Runs on
// LibTorch's current thread count (set_threads), which the checkpoints
// record: a resumed run is bitwise an uninterrupted one on the same count.
TrainingSummary train_network(const TrainingRequest& request);

// One SGD step as train_network takes it: forward (with the auxiliary head
// when the network has one), cross-entropy, backward, gradient clipping,
// the optimizer's step. `loss` is the main head's loss on the batch and
// `accuracy` its accuracy; a non-finite loss leaves the weights unchanged
// (accuracy NaN).
struct TrainingStepResult {
    double loss = NAN, accuracy = NAN;
};
TrainingStepResult training_step(nn::DartsNetwork& network, torch::optim::SGD& optimizer, const torch::Tensor& images,
                                 const torch::Tensor& labels, const TrainingConfig& config);

// "epoch-0005.h5"
std::string epoch_checkpoint_name(int64_t epoch);

// An upper bound on one checkpoint file of a network with these parameters
// and buffers, at a history of `steps` steps over `epochs` epochs (within
// 1.5x of the file for small networks, ~1.0x for large: the disk check
// before training, tests/train/test_trainer.cpp).
double checkpoint_file_bytes(const NamedTensors& parameters, const NamedTensors& buffers, int64_t steps,
                             int64_t epochs);

}  // namespace cellscape
