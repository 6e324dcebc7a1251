#include "cellscape/train/checkpoint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/train/detail/global_seed.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/hash.hpp"
#include "cellscape/util/settings_difference.hpp"

namespace cellscape {
namespace {

torch::Tensor as_tensor(const std::vector<double>& values) {
    return torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64));
}

void write_group(Hdf5File& file, const std::string& group, const NamedTensors& tensors) {
    file.create_group(group);  // present even when empty (momentum 0 keeps no buffers)
    for (const auto& [name, tensor] : tensors) file.write(group + "/" + name, tensor);
}

NamedTensors read_group(const Hdf5File& file, const std::string& group) {
    NamedTensors tensors;
    if (!file.contains(group)) return tensors;
    for (const std::string& name : file.members(group)) tensors.emplace_back(name, file.read(group + "/" + name));
    return tensors;
}

// The hash of the buffers (BatchNorm's running statistics), in name order:
// they decide every evaluation, so a damaged one is found like a damaged weight.
std::string hash_buffers(NamedTensors buffers) {
    std::sort(buffers.begin(), buffers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return hash_tensors(buffers);
}

// A checkpoint's counters and buffers are claims to check, like its weights:
// where training stands within its own schedule and history, a generator
// state of the generator's size, and buffers of finite floating-point numbers.
void check_state(const TrainingState& state, const Hdf5File& file, const std::string& origin) {
    const auto damaged = [&](const std::string& problem) {
        return Error(fmt::format("{}: {}; the checkpoint is damaged or was not written by cellscape's training", origin,
                                 problem));
    };
    const TrainingHistory& h = state.history;
    if (state.epoch < 0 || state.epoch > state.training.epochs)
        throw damaged(fmt::format("it says {} epochs are finished, outside its schedule of 0 to {}", state.epoch,
                                  state.training.epochs));
    if (static_cast<int64_t>(h.epoch_train_loss.size()) != state.epoch)
        throw damaged(fmt::format("it says {} epochs are finished but its history holds {}", state.epoch,
                                  h.epoch_train_loss.size()));
    if (state.step_in_epoch < 0 || state.step_in_epoch > static_cast<int64_t>(h.step_loss.size()) ||
        (state.step_in_epoch > 0 && state.epoch >= state.training.epochs))
        throw damaged(fmt::format("its step within the epoch, {}, does not fit its history of {} steps and {} of {} "
                                  "epochs",
                                  state.step_in_epoch, h.step_loss.size(), state.epoch, state.training.epochs));
    if (state.step_in_epoch > 0 && !state.rng_state.defined())
        throw damaged("it was taken inside an epoch but holds no random generator state");
    if (state.rng_state.defined()) {
        const torch::Tensor expected = at::detail::getDefaultCPUGenerator().get_state();
        if (state.rng_state.scalar_type() != expected.scalar_type() || state.rng_state.numel() != expected.numel())
            throw damaged(fmt::format("its random generator state has {} values of type {}, not the generator's {} "
                                      "of type {}",
                                      state.rng_state.numel(), c10::toString(state.rng_state.scalar_type()),
                                      expected.numel(), c10::toString(expected.scalar_type())));
    }
    for (const auto& [name, tensor] : state.buffers) {
        const bool counter = name.size() >= 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0;
        if (counter ? tensor.is_floating_point() : !tensor.is_floating_point())
            throw damaged(fmt::format("buffer '{}' is stored as {}", name, c10::toString(tensor.scalar_type())));
        if (!counter && !torch::isfinite(tensor).all().item<bool>())
            throw damaged(fmt::format("buffer '{}' holds NaN or infinite values", name));
    }
    if (file.has_attribute("/", "buffers_hash") && file.string_attribute("/", "buffers_hash") != hash_buffers(state.buffers))
        throw Error(fmt::format("{}: the buffers (BatchNorm's running statistics) do not match the buffers_hash the "
                                "checkpoint recorded when it was written; the file was damaged or edited since",
                                origin));
}

}  // namespace

std::optional<std::string> training_difference(const TrainingState& stored, const Genotype& genotype,
                                               const nn::NetworkConfig& network, const TrainingConfig& training,
                                               const std::string& now) {
    nlohmann::json stored_training = stored.training.to_json(), wanted_training = training.to_json();
    nlohmann::json stored_network = stored.network.to_json(), wanted_network = network.to_json();
    stored_training.erase("checkpoint_epochs");  // more checkpoints change nothing that is trained
    wanted_training.erase("checkpoint_epochs");
    for (auto* json : {&stored_network, &wanted_network}) {
        json->erase("classes");  // taken from the dataset
        json->erase("input_shape");
    }
    if (auto difference = settings_difference(stored_training, wanted_training, now)) return difference;
    if (auto difference = settings_difference(stored_network, wanted_network, now)) return difference;
    if (format_genotype(stored.genotype) != format_genotype(genotype))
        return fmt::format("the genotype was {}, {} now says {}", format_genotype(stored.genotype), now,
                           format_genotype(genotype));
    return std::nullopt;
}

std::string hash_tensors(const NamedTensors& tensors) {
    Fnv1a hash;
    for (const auto& [name, tensor] : tensors) {
        hash.add(name);
        const torch::Tensor data = tensor.to(torch::kCPU).contiguous();
        hash.add(data.data_ptr(), static_cast<std::size_t>(data.nbytes()));
    }
    return hash.hex();
}

void write_checkpoint(const std::filesystem::path& path, const TrainingState& state, const std::string& command) {
    write_hdf5_atomically(path, [&](Hdf5File& file) {
        write_standard_attributes(file, checkpoint_format, checkpoint_format_version, command);
        file.set_attribute("/", "cell_name", state.cell_name);
        file.set_attribute("/", "genotype", format_genotype(state.genotype));
        file.set_attribute("/", "network_config", state.network.to_json().dump());
        file.set_attribute("/", "training_config", state.training.to_json().dump());
        file.set_attribute("/", "epoch", state.epoch);
        file.set_attribute("/", "step_in_epoch", state.step_in_epoch);
        file.set_attribute("/", "complete", static_cast<int64_t>(state.complete()));
        file.set_attribute("/", "model_source", std::string("darts-network"));
        file.set_attribute("/", "weights_hash", hash_tensors(state.parameters));
        file.set_attribute("/", "buffers_hash", hash_buffers(state.buffers));
        file.set_attribute("/", "dataset", state.training.dataset);
        file.set_attribute("/", "train_indices_hash", state.train_indices_hash);
        file.set_attribute("/", "test_indices_hash", state.test_indices_hash);
        file.set_attribute("/", "seed", static_cast<int64_t>(state.training.seed));
        file.set_attribute("/", "device", state.device);
        file.set_attribute("/", "cuda_float32", state.cuda_float32);
        file.set_attribute("/", "threads", static_cast<int64_t>(state.threads));
        if (!state.pack.empty()) file.set_attribute("/", "pack", state.pack);
        write_group(file, "parameters", state.parameters);
        write_group(file, "buffers", state.buffers);
        write_group(file, "optimizer/momentum", state.momentum);
        if (state.rng_state.defined()) file.write("rng/cpu_state", state.rng_state);
        const TrainingHistory& h = state.history;
        file.write("history/step/loss", as_tensor(h.step_loss));
        file.write("history/step/accuracy", as_tensor(h.step_accuracy));
        file.write("history/step/learning_rate", as_tensor(h.step_learning_rate));
        file.write("history/epoch/train_loss", as_tensor(h.epoch_train_loss));
        file.write("history/epoch/train_accuracy", as_tensor(h.epoch_train_accuracy));
        file.write("history/epoch/test_loss", as_tensor(h.epoch_test_loss));
        file.write("history/epoch/test_accuracy", as_tensor(h.epoch_test_accuracy));
        file.write("history/epoch/learning_rate", as_tensor(h.epoch_learning_rate));
        file.write("history/epoch/seconds", as_tensor(h.epoch_seconds));
    });
}

TrainingState read_checkpoint(const std::filesystem::path& path) {
    const Hdf5File file(path, Hdf5File::Mode::read);
    require_format(file, checkpoint_format, checkpoint_format_version);
    TrainingState state;
    try {
        state.cell_name = file.string_attribute("/", "cell_name");
        state.genotype = parse_genotype_text(file.string_attribute("/", "genotype")).genotype;
        state.network = nn::NetworkConfig::from_json(nlohmann::json::parse(file.string_attribute("/", "network_config")));
        state.training = TrainingConfig::from_json(nlohmann::json::parse(file.string_attribute("/", "training_config")));
    } catch (const nlohmann::json::exception& error) {
        throw Error(fmt::format("{}: the stored configuration is damaged ({})", path.string(), error.what()));
    }
    state.epoch = file.int_attribute("/", "epoch");
    state.step_in_epoch = file.int_attribute("/", "step_in_epoch");
    state.train_indices_hash = file.string_attribute("/", "train_indices_hash");
    state.test_indices_hash = file.string_attribute("/", "test_indices_hash");
    state.device = file.string_attribute("/", "device");
    if (file.has_attribute("/", "cuda_float32")) state.cuda_float32 = file.string_attribute("/", "cuda_float32");
    state.threads = static_cast<int>(file.int_attribute("/", "threads"));
    if (file.has_attribute("/", "pack")) state.pack = file.string_attribute("/", "pack");
    state.weights_hash = file.string_attribute("/", "weights_hash");
    state.parameters = read_group(file, "parameters");
    state.buffers = read_group(file, "buffers");
    state.momentum = read_group(file, "optimizer/momentum");
    if (file.contains("rng/cpu_state")) state.rng_state = file.read("rng/cpu_state");
    TrainingHistory& h = state.history;
    h.step_loss = file.read_doubles("history/step/loss");
    h.step_accuracy = file.read_doubles("history/step/accuracy");
    h.step_learning_rate = file.read_doubles("history/step/learning_rate");
    h.epoch_train_loss = file.read_doubles("history/epoch/train_loss");
    h.epoch_train_accuracy = file.read_doubles("history/epoch/train_accuracy");
    h.epoch_test_loss = file.read_doubles("history/epoch/test_loss");
    h.epoch_test_accuracy = file.read_doubles("history/epoch/test_accuracy");
    h.epoch_learning_rate = file.read_doubles("history/epoch/learning_rate");
    h.epoch_seconds = file.read_doubles("history/epoch/seconds");
    check_state(state, file, path.string());
    return state;
}

NamedTensors named_parameters_of(torch::nn::Module& module) {
    NamedTensors tensors;
    for (const auto& item : module.named_parameters()) tensors.emplace_back(item.key(), item.value());
    return tensors;
}

NamedTensors named_buffers_of(torch::nn::Module& module) {
    NamedTensors tensors;
    for (const auto& item : module.named_buffers()) tensors.emplace_back(item.key(), item.value());
    return tensors;
}

void load_tensors(const NamedTensors& from, torch::nn::Module& into, bool buffers, const std::string& origin) {
    std::map<std::string, torch::Tensor> stored(from.begin(), from.end());
    torch::NoGradGuard no_grad;
    const auto targets = buffers ? into.named_buffers() : into.named_parameters();
    for (const auto& item : targets) {
        const auto found = stored.find(item.key());
        if (found == stored.end())
            throw Error(fmt::format("{} has no {} '{}': it was written for a different network", origin,
                                    buffers ? "buffer" : "parameter", item.key()));
        if (found->second.sizes() != item.value().sizes())
            throw Error(fmt::format("{}: '{}' has shape {} but the network expects {}", origin, item.key(),
                                    c10::str(found->second.sizes()), c10::str(item.value().sizes())));
        item.value().copy_(found->second);
    }
    if (stored.size() != targets.size())
        throw Error(fmt::format("{} holds {} {} but the network has {}: it was written for a different network", origin,
                                stored.size(), buffers ? "buffers" : "parameters", targets.size()));
}

const std::string* first_non_finite(const NamedTensors& tensors) {
    for (const auto& [name, tensor] : tensors)
        if (tensor.is_floating_point() && !torch::isfinite(tensor).all().item<bool>()) return &name;
    return nullptr;
}

void check_loaded_weights(const TrainingState& state, torch::nn::Module& network, const std::string& origin) {
    const NamedTensors loaded = named_parameters_of(network);
    if (const std::string* name = first_non_finite(loaded))
        throw Error(fmt::format("{}: parameter '{}' holds NaN or infinite values; the checkpoint is unusable (an "
                                "earlier epoch's may not be)",
                                origin, *name));
    for (const auto& [name, tensor] : state.parameters)
        if (tensor.scalar_type() != torch::kFloat32 && tensor.scalar_type() != torch::kFloat64)
            throw Error(fmt::format("{}: parameter '{}' is stored as {}, not as floating-point numbers; the file was "
                                    "not written by cellscape's training",
                                    origin, name, c10::toString(tensor.scalar_type())));
    // Training hashes the parameters in the network's order; a checkpoint
    // rewritten from a read state (read in name order) in name order.
    NamedTensors by_name = loaded;
    std::sort(by_name.begin(), by_name.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    if (!state.weights_hash.empty() && hash_tensors(loaded) != state.weights_hash &&
        hash_tensors(by_name) != state.weights_hash)
        throw Error(fmt::format("{}: the parameters do not match the weights_hash the checkpoint recorded when it was "
                                "written; the file was damaged or edited since",
                                origin));
}

nn::DartsNetwork initial_network(const TrainingState& state) {
    return seeded_network(state.genotype, state.network, state.training.seed);
}

nn::DartsNetwork seeded_network(const Genotype& genotype, const nn::NetworkConfig& config, uint64_t seed) {
    const detail::GlobalSeedScope scope;  // the caller's generators as they were, once built
    scope.seed(seed);
    return nn::DartsNetwork(genotype, config);
}

nn::DartsNetwork network_from_checkpoint(const TrainingState& state, const std::string& origin) {
    nn::DartsNetwork network(state.genotype, state.network);
    load_tensors(state.parameters, *network, false, origin);
    load_tensors(state.buffers, *network, true, origin);
    check_loaded_weights(state, *network, origin);
    return network;
}

}  // namespace cellscape
