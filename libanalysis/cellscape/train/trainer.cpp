#include "cellscape/train/trainer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cmath>
#include <optional>
#include <set>

#include "cellscape/data/augmentation.hpp"
#include "cellscape/data/dataset.hpp"
#include "cellscape/train/detail/global_seed.hpp"
#include "cellscape/train/detail/trainer.hpp"
#include "cellscape/io/output_lock.hpp"
#include "cellscape/io/paths.hpp"
#include "cellscape/nn/network.hpp"
#include "cellscape/nn/network_size.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/evaluation.hpp"
#include "cellscape/util/memory.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// LibTorch's optimizers key a parameter's state by its TensorImpl's address.
void* momentum_key(const torch::Tensor& parameter) { return parameter.unsafeGetTensorImpl(); }

// Sample-weighted mean of the last `steps` step values (every batch is full but maybe the last).
double epoch_mean(const std::vector<double>& values, int64_t steps, int64_t samples, int64_t batch_size) {
    double sum = 0;
    const std::size_t first = values.size() - static_cast<std::size_t>(steps);
    for (int64_t step = 0; step < steps; ++step) {
        const int64_t size = std::min(batch_size, samples - step * batch_size);
        sum += values[first + static_cast<std::size_t>(step)] * static_cast<double>(size);
    }
    return sum / static_cast<double>(samples);
}

// Where a run starts: the checkpoint it resumes (given, or the out
// directory's latest.h5 when that holds a run with the request's settings:
// rerunning the same command continues it), or nothing for a fresh run.
std::optional<fs::path> start_point(const TrainingRequest& request) {
    if (request.resume) return request.resume;
    const fs::path latest = request.out_dir / "latest.h5";
    if (!fs::exists(latest)) return std::nullopt;
    const TrainingState previous = read_checkpoint(latest);
    if (const auto difference = training_difference(previous, request.cell.genotype, request.network,
                                                    request.training, "this run"))
        throw Error(fmt::format("{} holds {} training run of {} with other settings ({}); train into another "
                                "directory, or remove it",
                                request.out_dir.string(), previous.complete() ? "a finished" : "an unfinished",
                                previous.cell_name, *difference));
    return latest;
}

// The state a run starts from: its start point's, else a fresh one.
TrainingState initial_state(const TrainingRequest& request, const std::optional<fs::path>& start) {
    if (start) return read_checkpoint(*start);
    TrainingState state;
    state.cell_name = request.cell.name;
    state.genotype = request.cell.genotype;
    state.network = request.network;
    state.training = request.training;
    return state;
}

// The run's data; fills in the network's input shape and classes from it,
// and checks a resumed run sees the samples it was trained on.
Dataset load_training_data(TrainingState& state, const std::optional<fs::path>& resumed) {
    const TrainingConfig& config = state.training;
    Dataset dataset = load_dataset({config.dataset, config.train_size, config.test_size, config.seed, true});
    if (dataset.sample_shape.size() != 3)
        throw SettingError("dataset", fmt::format("{} holds flat features; a DARTS network needs images (N x C x H x W)",
                                                  config.dataset));
    // Augmentation sizes within the image: a pad of 10^5 pixels asks for terabytes, a cutout wider than the
    // image blanks every sample.
    const int64_t side = std::min(dataset.sample_shape[1], dataset.sample_shape[2]);
    const AugmentationOptions& augmentation = config.augmentation;
    for (const auto& [setting, value] : {std::pair{"crop_padding", augmentation.crop_padding},
                                         std::pair{"cutout", augmentation.cutout}})
        if (value > side)
            throw SettingError(setting, fmt::format("is {} pixels but the images of {} are {} x {}: at most {}", value,
                                                    config.dataset, dataset.sample_shape[1], dataset.sample_shape[2],
                                                    side));
    const std::string train_hash = hash_indices(dataset.train_indices);
    const std::string test_hash = dataset.test.size() > 0 ? hash_indices(dataset.test_indices) : "none";
    if (resumed) {
        if (state.train_indices_hash != train_hash || state.test_indices_hash != test_hash)
            throw Error(fmt::format("{} was trained on other samples of {} than this machine now loads (the subset "
                                    "hashes differ); resume where the dataset matches",
                                    resumed->string(), config.dataset));
    } else {
        state.network.classes = dataset.classes;
        state.network.input_shape = {dataset.sample_shape[0], dataset.sample_shape[1], dataset.sample_shape[2]};
        state.train_indices_hash = train_hash;
        state.test_indices_hash = test_hash;
    }
    return dataset;
}

}  // namespace

namespace detail {

uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(epoch + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

NamedTensors to_cpu_copies(const NamedTensors& tensors) {
    NamedTensors copies;
    for (const auto& [name, tensor] : tensors) copies.emplace_back(name, tensor.detach().to(torch::kCPU).clone());
    return copies;
}

NamedTensors momentum_of(torch::optim::SGD& optimizer, const NamedTensors& parameters) {
    NamedTensors buffers;
    auto& states = optimizer.state();
    for (const auto& [name, parameter] : parameters) {
        const auto found = states.find(momentum_key(parameter));
        if (found == states.end()) continue;
        const auto& state = static_cast<const torch::optim::SGDParamState&>(*found->second);
        if (state.momentum_buffer().defined()) buffers.emplace_back(name, state.momentum_buffer().to(torch::kCPU).clone());
    }
    return buffers;
}

void restore_momentum(torch::optim::SGD& optimizer, const NamedTensors& parameters, const NamedTensors& stored) {
    std::map<std::string, torch::Tensor> by_name(stored.begin(), stored.end());
    for (const auto& [name, parameter] : parameters) {
        const auto found = by_name.find(name);
        if (found == by_name.end()) continue;
        auto state = std::make_unique<torch::optim::SGDParamState>();
        state->momentum_buffer(found->second.to(parameter.device()).clone());
        optimizer.state()[momentum_key(parameter)] = std::move(state);
    }
}

PreparedRun prepare_run(const TrainingRequest& request) {
    PreparedRun prepared;
    const std::optional<fs::path> start = prepared.start = start_point(request);
    TrainingState& state = prepared.state = initial_state(request, start);
    // A rerun's checkpoint epochs are the request's (a difference in them is
    // no other run): one added since, epoch 0 included, is written.
    if (start && !request.resume) state.training.checkpoint_epochs = request.training.checkpoint_epochs;
    state.training.validate();
    state.network.validate();
    validate_genotype(state.genotype);
    const ProgressTask notes(request.progress, "train", 0, "steps");
    if (start && !request.resume)
        notes.note(fmt::format("continuing the {} run in {} (epoch {} of {})",
                               state.complete() ? "finished" : "unfinished", request.out_dir.string(), state.epoch,
                               state.training.epochs));
    if (start && state.threads != torch::get_num_threads())
        notes.note(fmt::format("resuming with {} threads where the run used {}: the weights will not be bitwise those "
                               "of an uninterrupted run",
                               torch::get_num_threads(), state.threads));
    const std::string policy = cuda_float32_used(request.device, torch::kFloat32);  // the network trains in float32
    if (start && cuda_float32_differs(state.cuda_float32, policy))
        notes.note(fmt::format("resuming with cuda_float32 {} where the run used {}: the weights will not be bitwise "
                               "those of an uninterrupted run",
                               policy, state.cuda_float32));
    state.threads = torch::get_num_threads();
    state.device = request.device.str();
    state.cuda_float32 = policy;
    state.pack.clear();  // this run trains alone, whoever wrote the state it resumes
    prepared.dataset = load_training_data(state, start);
    return prepared;
}

void check_memory(const TrainingState& state, int64_t members) {
    const auto available = available_memory_bytes();
    if (!available) return;
    // On a GPU the feature maps live in the GPU's memory, not in this one.
    // Packed members hold their own feature maps: members times the batch.
    const bool on_gpu = state.device.rfind("cuda", 0) == 0;
    nn::require_fits_in_memory(nn::network_size(state.genotype, state.network), state.network,
                               on_gpu ? 0 : members * state.training.batch_size, 4, true, *available);
}

}  // namespace detail

double checkpoint_file_bytes(const NamedTensors& parameters, const NamedTensors& buffers, int64_t steps,
                             int64_t epochs) {
    // Measured on a C=4, 3-cell DARTS_V2 checkpoint: 199 datasets holding
    // 22 KiB in a 112 KiB file, so ~460 bytes of HDF5 metadata per dataset;
    // 600 bounds it. The root attributes (genotype, configs, hashes) take a
    // few KiB; 16 KiB bounds them.
    constexpr double per_dataset = 600, fixed = 16 << 10;
    double bytes = fixed;
    for (const auto& [name, tensor] : parameters)  // the weight and its momentum
        bytes += 2 * (per_dataset + static_cast<double>(tensor.numel() * tensor.element_size()));
    for (const auto& [name, tensor] : buffers)
        bytes += per_dataset + static_cast<double>(tensor.numel() * tensor.element_size());
    // The history: loss, accuracy and learning rate per step, six values per epoch, float64.
    bytes += 9 * per_dataset + 3 * 8 * static_cast<double>(steps) + 6 * 8 * static_cast<double>(epochs);
    return bytes;
}

namespace {

// The checkpoints still to come fit on the disk (checkpoint_file_bytes
// each, at the end of the run's history): the checkpoint epochs not yet
// written, the last epoch's and latest.h5, and at the peak one partial file
// beside its finished predecessor (a partial file, then a rename).
void check_disk_space(const TrainingState& state, const NamedTensors& parameters, const NamedTensors& buffers,
                      int64_t steps_per_epoch, const fs::path& out_dir) {
    const int64_t epochs = state.training.epochs;
    const double checkpoint = checkpoint_file_bytes(parameters, buffers, epochs * steps_per_epoch, epochs);
    const bool finished = state.complete();
    std::set<int64_t> to_write;
    if (!finished) to_write.insert(epochs);
    for (int64_t epoch : state.training.checkpoint_epochs)
        if (epoch > state.epoch ||
            ((epoch == 0 || epoch == state.epoch) && !fs::exists(out_dir / epoch_checkpoint_name(epoch))))
            to_write.insert(epoch);
    if (to_write.empty()) return;
    const auto files = static_cast<int64_t>(to_write.size()) + (finished ? 0 : 1);  // and latest.h5
    check_free_space(out_dir, checkpoint * static_cast<double>(files + 1),
                     fmt::format("the run's {} checkpoint files", files), "out_dir");
}

}  // namespace

TrainingStepResult training_step(nn::DartsNetwork& network, torch::optim::SGD& optimizer, const torch::Tensor& images,
                                 const torch::Tensor& labels, const TrainingConfig& config) {
    namespace F = torch::nn::functional;
    const auto output = network->forward_with_auxiliary(images);
    const torch::Tensor main_loss = F::cross_entropy(output.logits, labels);
    TrainingStepResult result;
    result.loss = main_loss.item<double>();
    if (!std::isfinite(result.loss)) return result;  // the weights stay as they were
    torch::Tensor loss = main_loss;
    if (output.auxiliary_logits.defined())
        loss = loss + config.auxiliary_weight * F::cross_entropy(output.auxiliary_logits, labels);
    optimizer.zero_grad();
    loss.backward();
    if (config.gradient_clip > 0) torch::nn::utils::clip_grad_norm_(network->parameters(), config.gradient_clip);
    optimizer.step();
    result.accuracy = output.logits.argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>();
    return result;
}

std::string epoch_checkpoint_name(int64_t epoch) { return fmt::format("epoch-{:04}.h5", epoch); }

namespace detail {

ReplicateRecord::ReplicateRecord(const TrainingRequest& request, PreparedRun prepared)
    : request_(request),
      resumed_(std::move(prepared.start)),
      state_(std::move(prepared.state)),
      dataset_(std::move(prepared.dataset)),
      latest_(request.out_dir / "latest.h5") {}

bool ReplicateRecord::keeps_checkpoint(int64_t epoch) const {
    const auto& wanted = config().checkpoint_epochs;
    return epoch == config().epochs || std::find(wanted.begin(), wanted.end(), epoch) != wanted.end();
}

nn::DartsNetwork ReplicateRecord::starting_network() const {
    nn::DartsNetwork network = initial_network(state_);
    if (resumed_) {
        const std::string origin = resumed_->string();
        load_tensors(state_.parameters, *network, false, origin);
        load_tensors(state_.buffers, *network, true, origin);
        check_loaded_weights(state_, *network, origin);
    }
    return network;
}

void ReplicateRecord::write(const fs::path& path) {
    if (path != latest_) written_.push_back(path);
    write_checkpoint(path, state_, request_.command);
}

void ReplicateRecord::begin(const WeightsSnapshot& current, const ProgressTask& progress) {
    check_disk_space(state_, current.parameters, current.buffers, steps_per_epoch(), request_.out_dir);
    if (state_.epoch == 0 && state_.step_in_epoch == 0) {
        // Epoch 0 among the checkpoint epochs: the initial weights, before any
        // step, for analyses at initialization (zero-cost proxies).
        if (keeps_checkpoint(0)) {
            state_.parameters = current.parameters;
            state_.buffers = current.buffers;
            state_.momentum = current.momentum;
            state_.rng_state = torch::Tensor();
            write(request_.out_dir / epoch_checkpoint_name(0));
        }
    } else {
        rebuild_initial_checkpoint(progress);
    }
    // An epoch ends by writing latest.h5, then the epoch's own checkpoint
    // when it is one to keep: a kill between the two leaves latest.h5 at an
    // epoch whose file is missing, and a rerun (the run finished, or
    // resuming after it) would never write it. latest.h5 holds exactly that
    // epoch's state, so the missing file is written from it.
    if (!resumed_ || state_.epoch == 0 || state_.step_in_epoch != 0 || !keeps_checkpoint(state_.epoch)) return;
    const fs::path path = request_.out_dir / epoch_checkpoint_name(state_.epoch);
    if (!fs::exists(path)) write(path);
}

// A run resumed with epoch 0 among its checkpoint epochs (added since it
// started) that has no epoch-0000.h5: the initial weights rebuilt from
// the seed, as the first step found them (no momentum yet, no history).
void ReplicateRecord::rebuild_initial_checkpoint(const ProgressTask& progress) {
    const fs::path path = request_.out_dir / epoch_checkpoint_name(0);
    if (!keeps_checkpoint(0) || fs::exists(path)) return;
    TrainingState initial = state_;
    initial.epoch = 0;
    initial.step_in_epoch = 0;
    initial.rng_state = torch::Tensor();
    initial.history = TrainingHistory{};
    initial.momentum.clear();
    {
        nn::DartsNetwork network = initial_network(state_);  // the run's random stream goes on as it was
        initial.parameters = to_cpu_copies(named_parameters_of(*network));
        initial.buffers = to_cpu_copies(named_buffers_of(*network));
    }
    written_.push_back(path);
    write_checkpoint(path, initial, request_.command);
    progress.note(fmt::format("wrote {}: epoch 0 is among the checkpoint epochs; its initial weights were rebuilt "
                              "from the seed",
                              path.string()));
}

void ReplicateRecord::record_step(const TrainingStepResult& result, double learning_rate) {
    state_.history.step_loss.push_back(result.loss);
    state_.history.step_accuracy.push_back(result.accuracy);
    state_.history.step_learning_rate.push_back(learning_rate);
}

std::string ReplicateRecord::finish_epoch(int64_t epoch, double seconds, const LossAndAccuracy& test,
                                          WeightsSnapshot weights) {
    TrainingHistory& history = state_.history;
    history.epoch_train_loss.push_back(epoch_mean(history.step_loss, steps_per_epoch(), samples(), config().batch_size));
    history.epoch_train_accuracy.push_back(
        epoch_mean(history.step_accuracy, steps_per_epoch(), samples(), config().batch_size));
    history.epoch_test_loss.push_back(test.loss);
    history.epoch_test_accuracy.push_back(test.accuracy);
    history.epoch_learning_rate.push_back(config().learning_rate_at(epoch));
    history.epoch_seconds.push_back(seconds);
    state_.epoch = epoch + 1;
    for (const auto& [name, parameter] : weights.parameters)
        if (!torch::isfinite(parameter).all().item<bool>())
            throw Error(fmt::format("parameter {} became non-finite in epoch {}; training stopped without saving "
                                    "this epoch. Lower the learning rate or keep gradient clipping on",
                                    name, state_.epoch));
    state_.parameters = std::move(weights.parameters);
    state_.buffers = std::move(weights.buffers);
    state_.momentum = std::move(weights.momentum);
    state_.rng_state = torch::Tensor();
    write(latest_);
    if (keeps_checkpoint(state_.epoch)) write(request_.out_dir / epoch_checkpoint_name(state_.epoch));
    return fmt::format("epoch {}/{}: train loss {:.4f} acc {:.4f}, test loss {:.4f} acc {:.4f}, lr {:.5f}, {:.1f} s",
                       state_.epoch, config().epochs, history.epoch_train_loss.back(),
                       history.epoch_train_accuracy.back(), test.loss, test.accuracy,
                       history.epoch_learning_rate.back(), seconds);
}

void ReplicateRecord::save_interrupted(int64_t epoch, int64_t step, const torch::Tensor& rng_state,
                                       WeightsSnapshot weights) {
    state_.epoch = epoch;
    state_.step_in_epoch = step;
    state_.parameters = std::move(weights.parameters);
    state_.buffers = std::move(weights.buffers);
    state_.momentum = std::move(weights.momentum);
    state_.rng_state = rng_state;
    write(latest_);
}

std::string ReplicateRecord::non_finite_loss_message(double loss, int64_t epoch, int64_t step,
                                                     double learning_rate) const {
    return fmt::format("the training loss became {} in epoch {}, step {} (learning rate {:g}); training stopped. {}. "
                       "Lower the learning rate, keep gradient clipping on, or check the data",
                       loss, epoch + 1, step + 1, learning_rate,
                       fs::exists(latest_) ? fmt::format("The last good state is {} (epoch {})", latest_.string(),
                                                         state_.epoch)
                       : fs::exists(request_.out_dir / epoch_checkpoint_name(0))
                           ? fmt::format("The last good state is {} (epoch 0, the initial weights)",
                                         (request_.out_dir / epoch_checkpoint_name(0)).string())
                           : std::string("No checkpoint had been written yet"));
}

TrainingSummary ReplicateRecord::summary(int64_t parameters, double seconds) const {
    TrainingSummary summary;
    summary.cell_name = state_.cell_name;
    summary.out_dir = request_.out_dir;
    summary.parameters = parameters;
    summary.checkpoints = written_;
    summary.epochs = state_.epoch;
    summary.final_checkpoint = request_.out_dir / epoch_checkpoint_name(state_.epoch);
    const TrainingHistory& history = state_.history;
    if (!history.epoch_train_loss.empty()) {
        summary.final_train_loss = history.epoch_train_loss.back();
        summary.final_train_accuracy = history.epoch_train_accuracy.back();
        summary.final_test_loss = history.epoch_test_loss.back();
        summary.final_test_accuracy = history.epoch_test_accuracy.back();
    }
    summary.seconds = seconds;
    return summary;
}

}  // namespace detail

namespace {

// One network trained per the request: the network, its optimizer and the
// random stream; the replicate's records keep the rest.
class TrainingRun {
public:
    TrainingRun(const TrainingRequest& request, detail::PreparedRun prepared)
        : request_(request),
          record_(request, std::move(prepared)),
          network_(make_network()),
          parameters_(named_parameters_of(*network_)),
          optimizer_(network_->parameters(), torch::optim::SGDOptions(config().learning_rate)
                                                 .momentum(config().momentum)
                                                 .weight_decay(config().weight_decay)),
          progress_(request.progress, fmt::format("train {}", record_.state().cell_name),
                    config().epochs * record_.steps_per_epoch(), "steps") {
        if (record_.resumed()) detail::restore_momentum(optimizer_, parameters_, record_.state().momentum);
    }

    TrainingSummary run() {
        const auto start = Clock::now();
        record_.begin(snapshot(), progress_);
        for (int64_t epoch = record_.state().epoch; epoch < config().epochs; ++epoch) {
            const auto epoch_start = Clock::now();
            train_epoch(epoch);
            network_->eval();
            const LossAndAccuracy test = evaluate();
            progress_.note(record_.finish_epoch(epoch, std::chrono::duration<double>(Clock::now() - epoch_start).count(),
                                                test, snapshot()));
        }
        return record_.summary(network_->parameter_count(), std::chrono::duration<double>(Clock::now() - start).count());
    }

private:
    const TrainingConfig& config() const { return record_.config(); }

    nn::DartsNetwork make_network() {
        nn::DartsNetwork network = record_.starting_network();
        network->to(request_.device);
        return network;
    }

    detail::WeightsSnapshot snapshot() {
        return {detail::to_cpu_copies(parameters_), detail::to_cpu_copies(named_buffers_of(*network_)),
                detail::momentum_of(optimizer_, parameters_)};
    }

    LossAndAccuracy evaluate() {
        const Dataset& data = record_.dataset();
        if (data.test.size() == 0) return {NAN, NAN};
        return evaluate_classifier([&](const torch::Tensor& x) { return network_->forward(x); }, data.test.images,
                                   data.test.labels, config().eval_batch_size, request_.device);
    }

    void train_epoch(int64_t epoch) {
        const double learning_rate = config().learning_rate_at(epoch);
        for (auto& group : optimizer_.param_groups())
            static_cast<torch::optim::SGDOptions&>(group.options()).lr(learning_rate);
        network_->set_drop_path(config().drop_path * static_cast<double>(epoch) / static_cast<double>(config().epochs));
        network_->train();
        at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle sharing the default state
        seed_scope_.seed(detail::epoch_seed(config().seed, epoch));
        const torch::Tensor order = torch::randperm(record_.samples(), torch::kInt64);
        TrainingState& state = record_.state();
        int64_t first_step = 0;
        if (state.step_in_epoch > 0) {  // resuming inside this epoch: same order, same random stream
            first_step = state.step_in_epoch;
            generator.set_state(state.rng_state);
            state.step_in_epoch = 0;
        }
        const Dataset& data = record_.dataset();
        const int64_t steps = record_.steps_per_epoch(), batch_size = config().batch_size;
        for (int64_t step = first_step; step < steps; ++step) {
            if (InterruptGuard::requested()) save_and_stop(epoch, step, generator);
            const int64_t size = std::min(batch_size, record_.samples() - step * batch_size);
            const torch::Tensor indices = order.narrow(0, step * batch_size, size);
            const torch::Tensor images =
                augment(data.train.images.index_select(0, indices), config().augmentation).to(request_.device);
            const torch::Tensor labels = data.train.labels.index_select(0, indices).to(request_.device);
            const TrainingStepResult result = training_step(network_, optimizer_, images, labels, config());
            if (!std::isfinite(result.loss))
                throw Error(record_.non_finite_loss_message(result.loss, epoch, step, learning_rate));
            record_.record_step(result, learning_rate);
            progress_.update(epoch * steps + step + 1,
                             fmt::format("epoch {}/{}, loss {:.4f}", epoch + 1, config().epochs, result.loss));
        }
    }

    [[noreturn]] void save_and_stop(int64_t epoch, int64_t step, at::Generator& generator) {
        record_.save_interrupted(epoch, step, generator.get_state(), snapshot());
        const int signal = InterruptGuard::signal_number();
        const std::string latest = record_.latest().string();
        throw Interrupted(signal, fmt::format("interrupted by {} in epoch {}, after step {} of {}; the state is saved "
                                              "in {}: resume from it to continue",
                                              signal == SIGINT ? "SIGINT" : "SIGTERM", epoch + 1, step,
                                              record_.steps_per_epoch(), latest),
                          latest);
    }

    const TrainingRequest& request_;
    // First in, last out: the caller's generator states come back after the run, however it ends.
    detail::GlobalSeedScope seed_scope_;
    detail::ReplicateRecord record_;
    nn::DartsNetwork network_;
    NamedTensors parameters_;
    torch::optim::SGD optimizer_;
    ProgressTask progress_;
};

}  // namespace

TrainingSummary train_network(const TrainingRequest& request) {
    require_available(request.device, "device");
    prepare_output_directory(request.out_dir, "out_dir");
    const OutputLock lock(request.out_dir, fmt::format("the training run in {}", request.out_dir.string()));
    detail::PreparedRun prepared = detail::prepare_run(request);
    detail::check_memory(prepared.state, 1);
    return detail::run_prepared(request, std::move(prepared));
}

TrainingSummary detail::run_prepared(const TrainingRequest& request, PreparedRun prepared) {
    return TrainingRun(request, std::move(prepared)).run();
}

}  // namespace cellscape
