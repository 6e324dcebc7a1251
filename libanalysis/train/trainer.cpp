#include "train/trainer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cmath>

#include "data/augmentation.hpp"
#include "data/dataset.hpp"
#include "nn/network.hpp"
#include "train/checkpoint.hpp"
#include "train/evaluation.hpp"
#include "util/device.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/progress.hpp"

namespace cellscape {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Each epoch draws its order, augmentation and drop-path masks from its own
// seed, so epochs do not depend on how earlier ones were run (SplitMix64 mix).
uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(epoch + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// LibTorch's optimizers key a parameter's state by its TensorImpl's address.
void* momentum_key(const torch::Tensor& parameter) { return parameter.unsafeGetTensorImpl(); }

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

void check_unfinished_run(const fs::path& out_dir) {
    const fs::path latest = out_dir / "latest.h5";
    if (!fs::exists(latest)) return;
    const TrainingState previous = read_checkpoint(latest);
    if (previous.complete())
        throw Error(fmt::format("{} already holds a finished training run ({}); choose another --out or remove it",
                                out_dir.string(), previous.cell_name));
    throw Error(fmt::format("{} holds an unfinished training run of {} (epoch {} of {}); continue it with "
                            "`cellscape train --resume {}`, or choose another --out",
                            out_dir.string(), previous.cell_name, previous.epoch, previous.training.epochs,
                            latest.string()));
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

TrainingSummary train_network(const TrainingRequest& request) {
    const auto run_start = Clock::now();
    const torch::Device device = parse_device(request.device);

    TrainingState state;
    if (request.resume) {
        state = read_checkpoint(*request.resume);
        state.threads = request.threads.value_or(state.threads);
    } else {
        state.threads = request.threads.value_or(0);
        check_unfinished_run(request.out_dir);
        state.cell_name = request.cell.name;
        state.genotype = request.cell.genotype;
        state.network = request.network;
        state.training = request.training;
    }
    set_threads(state.threads);
    const TrainingConfig& config = state.training;
    config.validate();
    fs::create_directories(request.out_dir);

    const Dataset dataset = load_dataset({config.dataset, config.train_size, config.test_size, config.seed, true});
    if (dataset.sample_shape.size() != 3)
        throw Error(fmt::format("dataset {} holds flat features; a DARTS network needs images (N x C x H x W)",
                                config.dataset));
    const std::string train_hash = hash_indices(dataset.train_indices);
    const std::string test_hash = dataset.test.size() > 0 ? hash_indices(dataset.test_indices) : "none";
    if (request.resume) {
        if (state.train_indices_hash != train_hash || state.test_indices_hash != test_hash)
            throw Error(fmt::format("{} was trained on other samples of {} than this machine now loads (the subset "
                                    "hashes differ); resume where the dataset matches",
                                    request.resume->string(), config.dataset));
    } else {
        state.network.classes = dataset.classes;
        state.network.input_shape = {dataset.sample_shape[0], dataset.sample_shape[1], dataset.sample_shape[2]};
        state.train_indices_hash = train_hash;
        state.test_indices_hash = test_hash;
    }
    state.device = device.str();

    torch::manual_seed(config.seed);  // initial weights
    nn::DartsNetwork network(state.genotype, state.network);
    const std::string origin = request.resume ? request.resume->string() : "";
    if (request.resume) {
        load_tensors(state.parameters, *network, false, origin);
        load_tensors(state.buffers, *network, true, origin);
    }
    network->to(device);
    const NamedTensors parameters = named_parameters_of(*network);
    torch::optim::SGD optimizer(network->parameters(), torch::optim::SGDOptions(config.learning_rate)
                                                           .momentum(config.momentum)
                                                           .weight_decay(config.weight_decay));
    if (request.resume) restore_momentum(optimizer, parameters, state.momentum);

    TrainingSummary summary;
    summary.cell_name = state.cell_name;
    summary.out_dir = request.out_dir;
    summary.parameters = network->parameter_count();

    const int64_t samples = dataset.train.size();
    const int64_t steps_per_epoch = (samples + config.batch_size - 1) / config.batch_size;
    const fs::path latest = request.out_dir / "latest.h5";
    auto capture = [&](const torch::Tensor& rng_state) {
        state.parameters = to_cpu_copies(parameters);
        state.buffers = to_cpu_copies(named_buffers_of(*network));
        state.momentum = momentum_of(optimizer, parameters);
        state.rng_state = rng_state;
    };

    InterruptGuard interrupt_guard;
    Progress progress(fmt::format("train {}", state.cell_name), config.epochs * steps_per_epoch, "steps");
    at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle sharing the default state

    for (int64_t epoch = state.epoch; epoch < config.epochs; ++epoch) {
        const auto epoch_start = Clock::now();
        const double learning_rate = config.learning_rate_at(epoch);
        for (auto& group : optimizer.param_groups())
            static_cast<torch::optim::SGDOptions&>(group.options()).lr(learning_rate);
        network->set_drop_path(config.drop_path * static_cast<double>(epoch) / static_cast<double>(config.epochs));
        network->train();

        torch::manual_seed(epoch_seed(config.seed, epoch));
        const torch::Tensor order = torch::randperm(samples, torch::kInt64);
        int64_t first_step = 0;
        if (state.step_in_epoch > 0) {  // resuming inside this epoch: same order, same random stream
            first_step = state.step_in_epoch;
            generator.set_state(state.rng_state);
            state.step_in_epoch = 0;
        }
        for (int64_t step = first_step; step < steps_per_epoch; ++step) {
            if (InterruptGuard::requested()) {
                state.epoch = epoch;
                state.step_in_epoch = step;
                capture(generator.get_state());
                write_checkpoint(latest, state, request.command);
                const int signal = InterruptGuard::signal_number();
                throw Interrupted(signal, fmt::format("interrupted by {} in epoch {}, after step {} of {}; the state "
                                                      "is saved in {}; continue with `cellscape train --resume {}`",
                                                      signal == SIGINT ? "SIGINT" : "SIGTERM", epoch + 1, step,
                                                      steps_per_epoch, latest.string(), latest.string()));
            }
            const int64_t size = std::min(config.batch_size, samples - step * config.batch_size);
            const torch::Tensor indices = order.narrow(0, step * config.batch_size, size);
            const torch::Tensor images = augment(dataset.train.images.index_select(0, indices), config.augmentation)
                                             .to(device);
            const torch::Tensor labels = dataset.train.labels.index_select(0, indices).to(device);

            const TrainingStepResult result = training_step(network, optimizer, images, labels, config);
            const double loss_value = result.loss;
            if (!std::isfinite(loss_value)) {
                const bool saved = fs::exists(latest);
                throw Error(fmt::format(
                    "the training loss became {} in epoch {}, step {} (learning rate {:g}); training stopped. {}. "
                    "Lower --lr, keep --grad-clip on, or check the data",
                    loss_value, epoch + 1, step + 1, learning_rate,
                    saved ? fmt::format("The last good state is {} (epoch {})", latest.string(), state.epoch)
                          : std::string("No checkpoint had been written yet")));
            }
            const double accuracy = result.accuracy;
            state.history.step_loss.push_back(loss_value);
            state.history.step_accuracy.push_back(accuracy);
            state.history.step_learning_rate.push_back(learning_rate);
            progress.update(epoch * steps_per_epoch + step + 1,
                            fmt::format("epoch {}/{}, loss {:.4f}", epoch + 1, config.epochs, loss_value));
        }

        TrainingHistory& history = state.history;
        history.epoch_train_loss.push_back(epoch_mean(history.step_loss, steps_per_epoch, samples, config.batch_size));
        history.epoch_train_accuracy.push_back(
            epoch_mean(history.step_accuracy, steps_per_epoch, samples, config.batch_size));
        network->eval();
        const LossAndAccuracy test =
            dataset.test.size() > 0
                ? evaluate_classifier([&](const torch::Tensor& x) { return network->forward(x); },
                                      dataset.test.images, dataset.test.labels, config.eval_batch_size, device)
                : LossAndAccuracy{NAN, NAN};
        history.epoch_test_loss.push_back(test.loss);
        history.epoch_test_accuracy.push_back(test.accuracy);
        history.epoch_learning_rate.push_back(learning_rate);
        history.epoch_seconds.push_back(std::chrono::duration<double>(Clock::now() - epoch_start).count());
        state.epoch = epoch + 1;

        for (const auto& [name, parameter] : parameters)
            if (!torch::isfinite(parameter).all().item<bool>())
                throw Error(fmt::format("parameter {} became non-finite in epoch {}; training stopped without "
                                        "saving this epoch. Lower --lr or keep --grad-clip on",
                                        name, state.epoch));
        capture(torch::Tensor());
        write_checkpoint(latest, state, request.command);
        const bool last = state.epoch == config.epochs;
        const auto& wanted = config.checkpoint_epochs;
        if (last || std::find(wanted.begin(), wanted.end(), state.epoch) != wanted.end()) {
            const fs::path path = request.out_dir / epoch_checkpoint_name(state.epoch);
            write_checkpoint(path, state, request.command);
            summary.checkpoints.push_back(path);
        }
        progress.note(fmt::format("epoch {}/{}: train loss {:.4f} acc {:.4f}, test loss {:.4f} acc {:.4f}, lr {:.5f}, "
                                  "{:.1f} s",
                                  state.epoch, config.epochs, history.epoch_train_loss.back(),
                                  history.epoch_train_accuracy.back(), test.loss, test.accuracy, learning_rate,
                                  history.epoch_seconds.back()));
    }

    const TrainingHistory& history = state.history;
    summary.epochs = state.epoch;
    summary.final_checkpoint = request.out_dir / epoch_checkpoint_name(state.epoch);
    if (!history.epoch_train_loss.empty()) {
        summary.final_train_loss = history.epoch_train_loss.back();
        summary.final_train_accuracy = history.epoch_train_accuracy.back();
        summary.final_test_loss = history.epoch_test_loss.back();
        summary.final_test_accuracy = history.epoch_test_accuracy.back();
    }
    summary.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
    return summary;
}

}  // namespace cellscape
