#include "cellscape/train/packed_trainer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <csignal>
#include <cmath>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "cellscape/data/augmentation.hpp"
#include "cellscape/io/output_lock.hpp"
#include "cellscape/io/paths.hpp"
#include "cellscape/nn/packed_layout.hpp"
#include "cellscape/train/detail/global_seed.hpp"
#include "cellscape/train/detail/trainer.hpp"
#include "cellscape/train/evaluation.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"

namespace cellscape {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// torch::nn::utils::clip_grad_norm_ per member: member k's gradient norm is
// the norm of its slices' norms, and its slices are scaled by
// min(1, max_norm / (norm + 1e-6)), as clip_grad_norm_ scales a network's.
void clip_member_gradients(const std::vector<torch::Tensor>& parameters, double max_norm, int64_t pack) {
    std::vector<torch::Tensor> grads, norms;
    for (const torch::Tensor& parameter : parameters)
        if (parameter.grad().defined()) {
            grads.push_back(parameter.grad());
            norms.push_back(grads.back().reshape({pack, -1}).norm(2, 1));
        }
    if (grads.empty()) return;
    const torch::Tensor total = torch::stack(norms).norm(2, 0);  // per member
    const torch::Tensor scale = torch::clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
    for (torch::Tensor& grad : grads) {
        const int64_t slice = grad.size(0) / pack;
        for (int64_t member = 0; member < pack; ++member)
            grad.narrow(0, member * slice, slice).mul_(scale[member]);
    }
}

// Mean cross-entropy of each member over its batch: logits N x (K * classes), labels N x K.
torch::Tensor member_losses(const torch::Tensor& logits, const torch::Tensor& labels, int64_t pack) {
    namespace F = torch::nn::functional;
    const int64_t n = logits.size(0), classes = logits.size(1) / pack;
    return F::cross_entropy(logits.reshape({n * pack, classes}), labels.reshape({n * pack}),
                            F::CrossEntropyFuncOptions().reduction(torch::kNone))
        .view({n, pack})
        .mean(0);
}

std::string seed_list(const std::vector<uint64_t>& seeds) { return fmt::format("{}", fmt::join(seeds, ",")); }

}  // namespace

NamedTensors pack_tensors(const std::vector<NamedTensors>& members) {
    if (members.empty()) return {};
    NamedTensors packed;
    for (std::size_t i = 0; i < members[0].size(); ++i) {
        const auto& [name, first] = members[0][i];
        std::vector<torch::Tensor> slices;
        for (const NamedTensors& member : members) {
            if (member.size() != members[0].size() || member[i].first != name || member[i].second.sizes() != first.sizes())
                throw Error(fmt::format("the members of a pack must hold the same tensors; {} differs", name));
            slices.push_back(member[i].second);
        }
        if (first.dim() == 0) {
            for (const torch::Tensor& slice : slices)
                if (!torch::equal(slice, first))
                    throw Error(fmt::format("the members of a pack share {}, but theirs differ", name));
            packed.emplace_back(name, first.clone());
        } else {
            packed.emplace_back(name, torch::cat(slices, 0));
        }
    }
    return packed;
}

NamedTensors member_tensors(const NamedTensors& packed, int64_t member, int64_t pack) {
    NamedTensors tensors;
    for (const auto& [name, tensor] : packed) {
        if (tensor.dim() == 0) {
            tensors.emplace_back(name, tensor.clone());
            continue;
        }
        const int64_t slice = tensor.size(0) / pack;
        tensors.emplace_back(name, tensor.narrow(0, member * slice, slice).clone());
    }
    return tensors;
}

std::vector<TrainingStepResult> packed_training_step(nn::DartsNetwork& network, torch::optim::SGD& optimizer,
                                                     const torch::Tensor& images, const torch::Tensor& labels,
                                                     const TrainingConfig& config) {
    const int64_t pack = network->pack();
    const auto output = network->forward_with_auxiliary(images);
    const torch::Tensor main = member_losses(output.logits, labels, pack);
    const torch::Tensor losses = main.detach().to(torch::kCPU, torch::kFloat64);
    std::vector<TrainingStepResult> results(static_cast<std::size_t>(pack));
    bool finite = true;
    for (int64_t member = 0; member < pack; ++member) {
        results[static_cast<std::size_t>(member)].loss = losses[member].item<double>();
        finite = finite && std::isfinite(results[static_cast<std::size_t>(member)].loss);
    }
    if (!finite) return results;  // the weights stay as they were
    torch::Tensor loss = main.sum();
    if (output.auxiliary_logits.defined())
        loss = loss + config.auxiliary_weight * member_losses(output.auxiliary_logits, labels, pack).sum();
    optimizer.zero_grad();
    loss.backward();
    if (config.gradient_clip > 0) clip_member_gradients(network->parameters(), config.gradient_clip, pack);
    optimizer.step();
    const int64_t n = output.logits.size(0), classes = output.logits.size(1) / pack;
    const torch::Tensor accuracy = output.logits.view({n, pack, classes})
                                       .argmax(2)
                                       .eq(labels)
                                       .to(torch::kFloat64)
                                       .mean(0)
                                       .to(torch::kCPU);
    for (int64_t member = 0; member < pack; ++member)
        results[static_cast<std::size_t>(member)].accuracy = accuracy[member].item<double>();
    return results;
}

namespace {

// Members at the same point trained as one packed network: one record per
// member (train/detail/trainer.hpp) and one CPU random stream per member,
// each drawing what its own run would draw, in the same order.
class PackedTrainingRun {
public:
    PackedTrainingRun(const std::vector<const TrainingRequest*>& requests, std::vector<detail::PreparedRun> prepared,
                      const std::string& pack_name)
        : pack_(static_cast<int64_t>(requests.size())) {
        for (std::size_t k = 0; k < requests.size(); ++k) {
            records_.emplace_back(*requests[k], std::move(prepared[k]));
            records_.back().state().pack = fmt::format("{}, member {} of {}", pack_name, k + 1, pack_);
        }
        device_ = requests[0]->device;
        network_ = make_network();
        parameters_ = named_parameters_of(*network_);
        optimizer_ = std::make_unique<torch::optim::SGD>(network_->parameters(),
                                                         torch::optim::SGDOptions(config().learning_rate)
                                                             .momentum(config().momentum)
                                                             .weight_decay(config().weight_decay));
        if (records_[0].resumed()) {
            std::vector<NamedTensors> momentum;
            for (auto& record : records_) momentum.push_back(record.state().momentum);
            detail::restore_momentum(*optimizer_, parameters_, pack_tensors(momentum));
        }
        std::vector<uint64_t> seeds;
        for (const auto& record : records_) seeds.push_back(record.config().seed);
        progress_ = ProgressTask(requests[0]->progress,
                                 fmt::format("train {} seeds {} (pack of {})", records_[0].state().cell_name,
                                             seed_list(seeds), pack_),
                                 config().epochs * steps_per_epoch(), "steps");
        streams_.resize(records_.size());
    }

    std::vector<TrainingSummary> run() {
        const auto start = Clock::now();
        const std::vector<detail::WeightsSnapshot> initial = snapshots();
        for (std::size_t k = 0; k < records_.size(); ++k) records_[k].begin(initial[k], *progress_);
        for (int64_t epoch = records_[0].state().epoch; epoch < config().epochs; ++epoch) {
            const auto epoch_start = Clock::now();
            train_epoch(epoch);
            network_->eval();
            const std::vector<LossAndAccuracy> tests = evaluate();
            const double seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
            std::vector<detail::WeightsSnapshot> weights = snapshots();
            refuse_non_finite_weights(weights, epoch);
            for (int64_t k = 0; k < pack_; ++k) {
                auto& record = records_[static_cast<std::size_t>(k)];
                const std::string line = record.finish_epoch(epoch, seconds, tests[static_cast<std::size_t>(k)],
                                                             std::move(weights[static_cast<std::size_t>(k)]));
                progress_->note(fmt::format("seed {}: {}", record.config().seed, line));
            }
        }
        std::vector<TrainingSummary> summaries;
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        for (const auto& record : records_) summaries.push_back(record.summary(network_->parameter_count() / pack_, seconds));
        return summaries;
    }

private:
    const TrainingConfig& config() const { return records_[0].config(); }
    int64_t steps_per_epoch() const { return records_[0].steps_per_epoch(); }
    int64_t samples() const { return records_[0].samples(); }

    // Each member's network as its own run builds it (seeded, or loaded and
    // checked from its checkpoint), packed.
    nn::DartsNetwork make_network() {
        std::vector<NamedTensors> parameters, buffers;
        for (const auto& record : records_) {
            nn::DartsNetwork member = record.starting_network();
            parameters.push_back(named_parameters_of(*member));
            buffers.push_back(named_buffers_of(*member));
        }
        const TrainingState& first = records_[0].state();
        nn::DartsNetwork network(first.genotype, first.network, pack_);
        load_tensors(pack_tensors(parameters), *network, false, "the packed members");
        load_tensors(pack_tensors(buffers), *network, true, "the packed members");
        network->to(device_);
        return network;
    }

    // Every member's tensors: the packed ones copied to the CPU once, then sliced per member.
    std::vector<detail::WeightsSnapshot> snapshots() {
        const NamedTensors parameters = detail::to_cpu_copies(parameters_);
        const NamedTensors buffers = detail::to_cpu_copies(named_buffers_of(*network_));
        const NamedTensors momentum = detail::momentum_of(*optimizer_, parameters_);
        std::vector<detail::WeightsSnapshot> members;
        for (int64_t k = 0; k < pack_; ++k)
            members.push_back({member_tensors(parameters, k, pack_), member_tensors(buffers, k, pack_),
                               member_tensors(momentum, k, pack_)});
        return members;
    }

    // Each member's test set through the packed network, batch by batch, as
    // evaluate_classifier runs one network over its own.
    std::vector<LossAndAccuracy> evaluate() {
        std::vector<ClassifierTally> tallies(records_.size());
        const int64_t total = records_[0].dataset().test.size();
        if (total == 0) return std::vector<LossAndAccuracy>(records_.size(), {NAN, NAN});
        torch::NoGradGuard no_grad;
        const int64_t classes = records_[0].state().network.classes, batch_size = config().eval_batch_size;
        for (int64_t start = 0; start < total; start += batch_size) {
            const int64_t size = std::min(batch_size, total - start);
            std::vector<torch::Tensor> images;
            for (const auto& record : records_) images.push_back(record.dataset().test.images.narrow(0, start, size));
            const torch::Tensor logits = network_->forward(torch::cat(images, 1).to(device_));
            for (std::size_t k = 0; k < records_.size(); ++k)
                tallies[k].add(logits.narrow(1, static_cast<int64_t>(k) * classes, classes),
                               records_[k].dataset().test.labels.narrow(0, start, size).to(device_));
        }
        std::vector<LossAndAccuracy> results;
        for (const auto& tally : tallies) results.push_back(tally.mean());
        return results;
    }

    // Each member's data order for the epoch, its random stream seeded by
    // its own epoch seed (or, resuming inside the epoch, its saved stream).
    std::vector<torch::Tensor> start_epoch(int64_t epoch, at::Generator& generator) {
        std::vector<torch::Tensor> orders;
        for (std::size_t k = 0; k < records_.size(); ++k) {
            TrainingState& state = records_[k].state();
            seed_scope_.seed(detail::epoch_seed(state.training.seed, epoch));
            orders.push_back(torch::randperm(samples(), torch::kInt64));
            if (state.step_in_epoch > 0) generator.set_state(state.rng_state);
            streams_[k] = generator.get_state();
        }
        return orders;
    }

    struct PackedBatch {
        torch::Tensor images, labels;
        std::deque<torch::Tensor> masks;
    };

    // Step `step`'s batch of every member, from its order and its stream:
    // the augmentation's draws, then one drop-path mask per dropping edge in
    // the order the forward pass reaches them (a network's own run draws
    // them there, from the same stream, after the augmentation; here on the
    // CPU, so that on a GPU too they come from the member's stream).
    PackedBatch batch(int64_t step, const std::vector<torch::Tensor>& orders, at::Generator& generator,
                      bool dropping) {
        const int64_t batch_size = config().batch_size;
        const int64_t size = std::min(batch_size, samples() - step * batch_size);
        const auto mask_options = torch::TensorOptions().dtype(parameters_[0].second.scalar_type());
        std::vector<torch::Tensor> images, labels;
        std::vector<std::vector<torch::Tensor>> masks(static_cast<std::size_t>(network_->drop_path_edges()));
        for (std::size_t k = 0; k < records_.size(); ++k) {
            const Dataset& data = records_[k].dataset();
            const torch::Tensor indices = orders[k].narrow(0, step * batch_size, size);
            generator.set_state(streams_[k]);
            images.push_back(augment(data.train.images.index_select(0, indices), config().augmentation));
            labels.push_back(data.train.labels.index_select(0, indices));
            if (dropping)
                for (auto& edge : masks) edge.push_back(nn::drop_path_mask(size, drop_path_, mask_options).view({size, 1}));
            streams_[k] = generator.get_state();
        }
        PackedBatch packed{torch::cat(images, 1).to(device_), torch::stack(labels, 1).to(device_), {}};
        if (dropping)
            for (auto& edge : masks) packed.masks.push_back(torch::cat(edge, 1));
        return packed;
    }

    void train_epoch(int64_t epoch) {
        const double learning_rate = config().learning_rate_at(epoch);
        for (auto& group : optimizer_->param_groups())
            static_cast<torch::optim::SGDOptions&>(group.options()).lr(learning_rate);
        drop_path_ = config().drop_path * static_cast<double>(epoch) / static_cast<double>(config().epochs);
        network_->set_drop_path(drop_path_);
        network_->train();
        at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle sharing the default state
        const std::vector<torch::Tensor> orders = start_epoch(epoch, generator);
        const int64_t first_step = records_[0].state().step_in_epoch;
        for (auto& record : records_) record.state().step_in_epoch = 0;
        for (int64_t step = first_step; step < steps_per_epoch(); ++step) {
            if (InterruptGuard::requested()) save_and_stop(epoch, step);
            PackedBatch packed = batch(step, orders, generator, drop_path_ > 0.0);
            network_->set_drop_path_masks(std::move(packed.masks));
            const auto results = packed_training_step(network_, *optimizer_, packed.images, packed.labels, config());
            for (std::size_t k = 0; k < records_.size(); ++k)
                if (!std::isfinite(results[k].loss)) stop_on_non_finite_loss(k, results[k].loss, epoch, step);
            for (std::size_t k = 0; k < records_.size(); ++k) records_[k].record_step(results[k], learning_rate);
            progress_->update(epoch * steps_per_epoch() + step + 1,
                              fmt::format("epoch {}/{}, loss {:.4f} (seed {})", epoch + 1, config().epochs,
                                          results[0].loss, records_[0].config().seed));
        }
    }

    [[noreturn]] void save_and_stop(int64_t epoch, int64_t step) {
        std::vector<std::string> latest;
        std::vector<detail::WeightsSnapshot> weights = snapshots();
        for (std::size_t k = 0; k < records_.size(); ++k) {
            records_[k].save_interrupted(epoch, step, streams_[k], std::move(weights[k]));
            latest.push_back(records_[k].latest().string());
        }
        const int signal = InterruptGuard::signal_number();
        throw Interrupted(signal, fmt::format("interrupted by {} in epoch {}, after step {} of {}; each member's state "
                                              "is saved in its latest.h5 ({}): rerun the command to continue",
                                              signal == SIGINT ? "SIGINT" : "SIGTERM", epoch + 1, step,
                                              steps_per_epoch(), fmt::join(latest, ", ")));
    }

    // Every member's weights are checked before any member writes its epoch:
    // a member gone non-finite stops the pack with every member at its last
    // epoch, so that a pack without it resumes the others together.
    void refuse_non_finite_weights(const std::vector<detail::WeightsSnapshot>& weights, int64_t epoch) const {
        for (std::size_t k = 0; k < weights.size(); ++k)
            if (const std::string* name = first_non_finite(weights[k].parameters)) {
                const uint64_t seed = records_[k].config().seed;
                throw Error(fmt::format("seed {} of the pack: parameter {} became non-finite in epoch {}; training "
                                        "stopped without saving this epoch. Lower the learning rate or keep gradient "
                                        "clipping on. The other members stopped with it at their last epoch's state; "
                                        "train them without seed {} to finish them",
                                        seed, *name, epoch + 1, seed));
            }
    }

    // One member's loss became NaN or infinite: the pack stops (the weights
    // unchanged by this step) with that member's sentence; the others'
    // states are their last epoch's, and a pack without the member resumes them.
    [[noreturn]] void stop_on_non_finite_loss(std::size_t member, double loss, int64_t epoch, int64_t step) const {
        const auto& record = records_[member];
        throw Error(fmt::format("seed {} of the pack: {}. The other members stopped with it at their last epoch's "
                                "state; train them without seed {} to finish them",
                                record.config().seed,
                                record.non_finite_loss_message(loss, epoch, step, config().learning_rate_at(epoch)),
                                record.config().seed));
    }

    int64_t pack_;
    // First in, last out: the caller's generator states come back after the run, however it ends.
    detail::GlobalSeedScope seed_scope_;
    std::deque<detail::ReplicateRecord> records_;
    torch::Device device_ = torch::kCPU;
    nn::DartsNetwork network_{nullptr};
    NamedTensors parameters_;
    std::unique_ptr<torch::optim::SGD> optimizer_;
    std::optional<ProgressTask> progress_;
    std::vector<torch::Tensor> streams_;  // each member's CPU generator state
    double drop_path_ = 0.0;
};

void check_request(const PackedTrainingRequest& request) {
    if (request.seeds.empty()) throw SettingError("seeds", "a pack needs at least one seed");
    if (request.seeds.size() != request.out_dirs.size())
        throw Error(fmt::format("a pack of {} seeds needs as many output directories, got {}", request.seeds.size(),
                                request.out_dirs.size()));
    std::set<uint64_t> seeds;
    for (uint64_t seed : request.seeds)
        if (!seeds.insert(seed).second)
            throw SettingError("seeds", fmt::format("seed {} is given twice: a pack's members are distinct seeds", seed));
    std::set<fs::path> dirs;
    for (const fs::path& dir : request.out_dirs)
        if (!dirs.insert(fs::weakly_canonical(fs::absolute(dir))).second)
            throw SettingError("out_dir", fmt::format("{} is given for two seeds: each member needs its own directory",
                                                      dir.string()));
}

}  // namespace

std::vector<TrainingSummary> train_packed(const PackedTrainingRequest& request) {
    check_request(request);
    require_available(request.device, "device");
    const std::size_t members = request.seeds.size();
    std::vector<TrainingRequest> requests(members);
    std::vector<std::unique_ptr<OutputLock>> locks;
    std::vector<detail::PreparedRun> prepared;
    for (std::size_t k = 0; k < members; ++k) {
        TrainingRequest& member = requests[k];
        member.cell = request.cell;
        member.network = request.network;
        member.training = request.training;
        member.training.seed = request.seeds[k];
        member.out_dir = request.out_dirs[k];
        member.device = request.device;
        member.command = request.command;
        member.progress = request.progress;
        prepare_output_directory(member.out_dir, "out_dir");
        locks.push_back(std::make_unique<OutputLock>(
            member.out_dir, fmt::format("the training run in {}", member.out_dir.string())));
        prepared.push_back(detail::prepare_run(member));
    }
    // Members at the same point, in the order of the seeds: finished ones
    // are left as they are (a run of their own returns at once).
    std::map<std::pair<int64_t, int64_t>, std::vector<std::size_t>> groups;
    for (std::size_t k = 0; k < members; ++k) {
        const TrainingState& state = prepared[k].state;
        const auto point = state.complete() ? std::pair<int64_t, int64_t>{-1, 0}
                                            : std::pair<int64_t, int64_t>{state.epoch, state.step_in_epoch};
        groups[point].push_back(k);
    }
    int64_t largest = 1;
    for (const auto& [point, group] : groups)
        if (point.first >= 0) largest = std::max(largest, static_cast<int64_t>(group.size()));
    detail::check_memory(prepared[0].state, largest);
    std::vector<TrainingSummary> summaries(members);
    for (auto& [point, group] : groups) {
        if (point.first < 0 || group.size() == 1) {
            for (std::size_t k : group) summaries[k] = detail::run_prepared(requests[k], std::move(prepared[k]));
            continue;
        }
        std::vector<const TrainingRequest*> pack_requests;
        std::vector<detail::PreparedRun> pack_prepared;
        std::vector<uint64_t> seeds;
        for (std::size_t k : group) {
            pack_requests.push_back(&requests[k]);
            pack_prepared.push_back(std::move(prepared[k]));
            seeds.push_back(request.seeds[k]);
        }
        const std::string name = fmt::format("seeds {} of {} as one packed network", seed_list(seeds), request.cell.name);
        auto trained = PackedTrainingRun(pack_requests, std::move(pack_prepared), name).run();
        for (std::size_t i = 0; i < group.size(); ++i) summaries[group[i]] = std::move(trained[i]);
    }
    return summaries;
}

}  // namespace cellscape
