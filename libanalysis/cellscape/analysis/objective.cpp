#include "cellscape/analysis/objective.hpp"

#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/cuda.h>

#include <mutex>
#include <numeric>
#include <regex>

#include "cellscape/analysis/detail/autograd.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {

torch::ScalarType scalar_type_of(Precision precision) {
    return precision == Precision::float64 ? torch::kFloat64 : torch::kFloat32;
}

std::vector<torch::Tensor> gradients_or_zeros(const torch::Tensor& output, const std::vector<torch::Tensor>& inputs,
                                              bool create_graph, bool retain_graph) {
    auto gradients = torch::autograd::grad({output}, inputs, {}, retain_graph || create_graph, create_graph,
                                           /*allow_unused=*/true);
    for (std::size_t i = 0; i < gradients.size(); ++i)
        if (!gradients[i].defined()) gradients[i] = torch::zeros_like(inputs[i]);
    return gradients;
}

namespace {

namespace F = torch::nn::functional;

// The evaluation samples of a split: the first N, or N chosen by the seed.
torch::Tensor evaluation_indices(int64_t available, const EvaluationSamples& options) {
    if (options.sampling == Sampling::sequential) {
        if (options.samples > available)
            throw SettingError("samples",
                               fmt::format("is {} but the split has only {} samples", options.samples, available));
        return torch::arange(options.samples > 0 ? options.samples : available, torch::kInt64);
    }
    return choose_subset(available, options.samples, options.seed, "samples");
}

// The evaluation set's mean loss, or the whole gradient, must be finite.
void require_finite_loss(const LossAndAccuracy& result) {
    if (!std::isfinite(result.loss))
        throw Error("the loss is not finite (NaN or infinite) at these weights on the evaluation set; check the "
                    "model, the data, or the point being evaluated");
}

void require_finite_gradient(const torch::Tensor& gradient) {
    if (!torch::isfinite(gradient).all().item<bool>())
        throw NonFiniteGradient("the gradient is not finite (NaN or infinite) at these weights on the evaluation set");
}

}  // namespace

void EvaluationSamples::validate() const {
    if (samples < 0) throw SettingError("samples", fmt::format("must not be negative (got {})", samples));
}

void ObjectiveOptions::validate() const {
    if (batch_size < 1) throw SettingError("batch_size", fmt::format("must be at least 1 (got {})", batch_size));
    if (hvp_memory_bytes && *hvp_memory_bytes < 0)
        throw SettingError("hvp_memory_bytes",
                           fmt::format("must not be negative (got {}); 0 keeps no graph", *hvp_memory_bytes));
    require_available(device, "device");
    try {
        if (!params_regex.empty()) (void)std::regex(params_regex);
    } catch (const std::regex_error& error) {
        throw SettingError("params_regex",
                           fmt::format("'{}' is not a valid regular expression: {}", params_regex, error.what()));
    }
}

EvaluationSamples AnalysisContext::training_samples(int64_t count) const {
    EvaluationSamples samples;
    samples.samples = count;
    samples.split = Split::train;
    samples.seed = seed;
    return samples;
}

ObjectiveOptions AnalysisContext::objective_options(int64_t batch_size, BatchNormMode bn) const {
    ObjectiveOptions options;
    options.batch_size = batch_size;
    options.bn_mode = bn;
    options.device = device;
    return options;
}

void add_evaluation_settings(nlohmann::ordered_json& settings, const EvaluationSamples& samples,
                             const ObjectiveOptions& options) {
    if (options.bn_mode != BatchNormMode::eval) settings["bn"] = name_of(options.bn_mode);
    if (samples.split != Split::train) settings["split"] = name_of(samples.split);
    if (samples.sampling != Sampling::random) settings["sampling"] = name_of(samples.sampling);
    if (options.dtype != Precision::float32) settings["dtype"] = name_of(options.dtype);
}

void ObjectiveProvenance::write_to(Hdf5File& file) const {
    const std::pair<const char*, const std::string*> texts[] = {
        {"model_source", &model_source}, {"model_operators", &model_operators},
        {"weights_hash", &weights_hash}, {"dataset", &dataset},
        {"split", &split},               {"sample_indices_hash", &sample_indices_hash},
        {"sampling", &sampling},         {"bn_mode", &bn_mode},
        {"dtype", &dtype},               {"device", &device},
        {"cuda_float32", &cuda_float32}, {"parameter_selection", &parameter_selection}};
    for (const auto& [name, text] : texts)
        if (!text->empty()) file.set_attribute("/", name, *text);
    if (seed) file.set_attribute("/", "seed", static_cast<int64_t>(*seed));
    file.set_attribute("/", "samples", samples);
    file.set_attribute("/", "batch_size", batch_size);
    file.set_attribute("/", "parameter_count", parameter_count);
}

Objective::Objective(std::unique_ptr<Model> model, LabelledImages evaluation_set, const ObjectiveOptions& options,
                     ObjectiveProvenance provenance)
    : model_(std::move(model)),
      device_(options.device),
      dtype_(scalar_type_of(options.dtype)),
      provenance_(std::move(provenance)) {
    options.validate();
    hvp_memory_setting_ = options.hvp_memory_bytes;
    batch_statistics_ = options.bn_mode == BatchNormMode::train;
    model_->to(device_, dtype_);
    model_->set_training(batch_statistics_);

    // Parameter selection: a regex, named groups, or both (then both must match).
    std::vector<std::pair<std::string, std::regex>> group_patterns;
    const auto known_groups = model_->parameter_groups();
    for (const std::string& group : options.groups) {
        const auto found = std::find_if(known_groups.begin(), known_groups.end(),
                                        [&](const auto& known) { return known.first == group; });
        if (found == known_groups.end()) {
            std::string names;
            for (const auto& known : known_groups) names += (names.empty() ? "" : ", ") + known.first;
            throw SettingError("groups", fmt::format("'{}' is not a parameter group of this model (it has: {}); "
                                                     "select parameters by a name pattern instead",
                                                     group, names.empty() ? "none" : names));
        }
        group_patterns.emplace_back(group, std::regex(found->second));
    }
    std::optional<std::regex> name_pattern;
    if (!options.params_regex.empty()) name_pattern = std::regex(options.params_regex);  // valid: validate()
    for (auto& [name, parameter] : model_->named_parameters()) {
        bool wanted = !name_pattern || std::regex_search(name, *name_pattern);
        if (!group_patterns.empty())
            wanted = wanted && std::any_of(group_patterns.begin(), group_patterns.end(),
                                           [&](const auto& group) { return std::regex_search(name, group.second); });
        parameter.requires_grad_(wanted);  // unselected parameters stay fixed and cost no gradients
        if (wanted) {
            selected_.emplace_back(name, parameter);
            selected_tensors_.push_back(parameter);
            dimension_ += parameter.numel();
        }
    }
    if (selected_.empty())
        throw Error(fmt::format("no parameter matches the selection (name pattern '{}', groups {}); list the names "
                                "with h5ls on a checkpoint's parameters group",
                                options.params_regex,
                                options.groups.empty() ? "none" : fmt::to_string(fmt::join(options.groups, ","))));
    buffers_ = model_->named_buffers();
    for (const auto& [name, buffer] : buffers_) buffer_snapshot_.emplace_back(name, buffer.clone());

    samples_ = evaluation_set.size();
    if (samples_ == 0) throw Error("the evaluation set is empty");
    for (int64_t start = 0; start < samples_; start += options.batch_size) {
        const int64_t size = std::min(options.batch_size, samples_ - start);
        batches_.emplace_back(evaluation_set.images.narrow(0, start, size).to(device_, dtype_),
                              evaluation_set.labels.narrow(0, start, size).to(device_));
    }
    provenance_.samples = samples_;
    provenance_.batch_size = options.batch_size;
    provenance_.bn_mode = name_of(options.bn_mode);
    provenance_.dtype = name_of(options.dtype);
    provenance_.device = device_.str();
    provenance_.cuda_float32 = cuda_float32_used(device_, dtype_);
    provenance_.parameter_count = dimension_;
    provenance_.parameter_selection =
        options.params_regex.empty() && options.groups.empty()
            ? "all"
            : fmt::format("params={} groups={}", options.params_regex, fmt::join(options.groups, ","));
    {
        torch::NoGradGuard no_grad;
        check_output(model_->forward(batches_.front().first), batches_.front().second);
        restore_running_statistics();
    }
}

namespace {


// `state` with the weights its run started from (no weights_hash to check:
// they are the seed's, not the file's).
TrainingState initial_state(const TrainingState& state) {
    TrainingState initial = state;
    nn::DartsNetwork network = initial_network(state);
    initial.parameters = named_parameters_of(*network);
    initial.buffers = named_buffers_of(*network);
    initial.weights_hash.clear();
    return initial;
}

}  // namespace

LoadedModel load_model_and_samples(const ObjectiveSource& source, const EvaluationSamples& samples) {
    const bool from_checkpoint = !source.checkpoint.empty();
    if (from_checkpoint == !source.torchscript.empty())
        throw Error("an Objective's model is either a checkpoint or a TorchScript module (with data), not both");
    samples.validate();
    ObjectiveProvenance provenance;
    std::unique_ptr<Model> model;
    DatasetOptions data_options;
    if (from_checkpoint) {
        const TrainingState state = read_checkpoint(source.checkpoint);
        if (source.initial_weights) {
            model = model_from_checkpoint(initial_state(state), source.checkpoint);
            provenance.model_source = "checkpoint:" + source.checkpoint + " (initial weights)";
            provenance.weights_hash = hash_tensors(model->named_parameters());
        } else {
            model = model_from_checkpoint(state, source.checkpoint);
            provenance.model_source = "checkpoint:" + source.checkpoint;
            provenance.weights_hash = state.weights_hash;
        }
        provenance.model_operators = "cellscape's DARTS network";
        // The training run's subsets and normalization, so the data is what the model saw.
        data_options = {state.training.dataset, state.training.train_size, state.training.test_size,
                        state.training.seed, true};
        if (!source.dataset.empty()) data_options.spec = source.dataset;
    } else {
        auto script = std::make_unique<ScriptModel>(source.torchscript, !source.torchscript_as_saved);
        provenance.model_operators = script->rewrite().describe();
        model = std::move(script);
        provenance.model_source = "torchscript:" + source.torchscript;
        provenance.weights_hash = hash_tensors(model->named_parameters());
        if (source.data.empty() == source.dataset.empty())
            throw Error("a TorchScript module needs its data: an HDF5 file of x and y (used as stored) or a dataset "
                        "spec, one of the two");
        data_options = source.data.empty() ? DatasetOptions{source.dataset, 0, 0, 0, true}
                                           : DatasetOptions{"h5:" + source.data, 0, 0, 0, false};
    }
    const Dataset dataset = load_dataset(data_options);
    const LabelledImages& split = samples.split == Split::train ? dataset.train : dataset.test;
    if (split.size() == 0)
        throw SettingError("split", fmt::format("dataset {} has no {} split", data_options.spec, name_of(samples.split)));
    const torch::Tensor indices = evaluation_indices(split.size(), samples);
    provenance.dataset = data_options.spec;
    provenance.split = name_of(samples.split);
    provenance.sampling = name_of(samples.sampling);
    if (samples.sampling == Sampling::random) provenance.seed = samples.seed;
    provenance.sample_indices_hash = hash_indices(indices);
    return {std::move(model), {split.images.index_select(0, indices), split.labels.index_select(0, indices)},
            std::move(provenance)};
}

Objective Objective::load(const ObjectiveSource& source, const EvaluationSamples& samples,
                          const ObjectiveOptions& options) {
    options.validate();
    LoadedModel loaded = load_model_and_samples(source, samples);
    return Objective(std::move(loaded.model), std::move(loaded.samples), options, std::move(loaded.provenance));
}

void Objective::check_output(const torch::Tensor& output, const torch::Tensor& labels) const {
    check_logits(output, labels);
}

void check_logits(const torch::Tensor& output, const torch::Tensor& labels) {
    const int64_t needed = labels.max().item<int64_t>() + 1;
    if (output.dim() != 2 || output.size(0) != labels.size(0) || output.size(1) < needed)
        throw Error(fmt::format("the model's output has shape {} for a batch of {} samples, but the labels need "
                                "logits of shape [{}, C] with C >= {}: the model does not fit the data",
                                c10::str(output.sizes()), labels.size(0), labels.size(0), needed));
}

void Objective::restore_running_statistics() {
    if (!batch_statistics_) return;
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < buffers_.size(); ++i) buffers_[i].second.copy_(buffer_snapshot_[i].second);
}

LossAndAccuracy Objective::loss_and_accuracy(bool require_finite) {
    torch::NoGradGuard no_grad;
    ClassifierTally tally;
    for (const auto& [inputs, labels] : batches_) {
        const torch::Tensor output = model_->forward(inputs);
        restore_running_statistics();
        tally.add(output, labels);
    }
    const LossAndAccuracy result = tally.mean();
    if (require_finite) require_finite_loss(result);
    return result;
}

torch::Tensor Objective::flatten(const std::vector<torch::Tensor>& tensors) const {
    std::vector<torch::Tensor> flat;
    for (const auto& tensor : tensors) flat.push_back(tensor.reshape({-1}));
    return torch::cat(flat);
}

std::vector<torch::Tensor> Objective::unflatten(const torch::Tensor& flat) const {
    if (flat.numel() != dimension_)
        throw Error(fmt::format("internal: a vector of {} values for {} parameters", flat.numel(), dimension_));
    std::vector<torch::Tensor> tensors;
    int64_t offset = 0;
    for (const auto& [name, parameter] : selected_) {
        tensors.push_back(flat.narrow(0, offset, parameter.numel()).view(parameter.sizes()));
        offset += parameter.numel();
    }
    return tensors;
}

torch::Tensor Objective::parameter_vector() const {
    std::vector<torch::Tensor> tensors;
    for (const auto& [name, parameter] : selected_) tensors.push_back(parameter.detach());
    return flatten(tensors);
}

void Objective::set_parameter_vector(const torch::Tensor& flat) {
    release_kept_graphs();  // they belong to the old weights
    torch::NoGradGuard no_grad;
    const auto parts = unflatten(flat.to(device_, dtype_));
    for (std::size_t i = 0; i < parts.size(); ++i) selected_[i].second.copy_(parts[i]);
}

void Objective::set_buffers(const NamedTensors& values) {
    release_kept_graphs();
    torch::NoGradGuard no_grad;
    for (const auto& [name, value] : values) {
        const auto found = std::find_if(buffers_.begin(), buffers_.end(), [&](const auto& b) { return b.first == name; });
        if (found == buffers_.end()) throw Error(fmt::format("internal: the model has no buffer {}", name));
        found->second.copy_(value);
        buffer_snapshot_[static_cast<std::size_t>(found - buffers_.begin())].second.copy_(value);
    }
}

torch::Tensor Objective::gradient() {
    torch::Tensor total;
    for (const auto& [inputs, labels] : batches_) {
        const torch::Tensor loss =
            F::cross_entropy(model_->forward(inputs), labels, F::CrossEntropyFuncOptions().reduction(torch::kSum)) /
            static_cast<double>(samples_);
        const torch::Tensor flat = flatten(gradients_or_zeros(loss, selected_tensors_, false));
        restore_running_statistics();
        total = total.defined() ? total + flat : flat;
    }
    require_finite_gradient(total);
    return total;
}

torch::Tensor Objective::batch_gradient(std::size_t index) {
    const auto& [inputs, labels] = batches_.at(index);
    const torch::Tensor loss = F::cross_entropy(model_->forward(inputs), labels);
    const torch::Tensor flat = flatten(gradients_or_zeros(loss, selected_tensors_, false));
    restore_running_statistics();
    if (!torch::isfinite(flat).all().item<bool>())
        throw NonFiniteGradient(fmt::format("the gradient of batch {} is not finite (NaN or infinite)", index));
    return flat;
}

std::vector<torch::Tensor> Objective::gradient_with_graph(std::size_t index, ClassifierTally* tally) {
    const auto& [inputs, labels] = batches_[index];
    const torch::Tensor output = model_->forward(inputs);
    if (tally) tally->add(output.detach(), labels);
    const torch::Tensor loss =
        F::cross_entropy(output, labels, F::CrossEntropyFuncOptions().reduction(torch::kSum)) /
        static_cast<double>(samples_);
    return gradients_or_zeros(loss, selected_tensors_, true);
}

std::vector<int64_t> Objective::weight_versions() const {
    std::vector<int64_t> versions;
    for (const auto& [name, parameter] : model_->named_parameters()) versions.push_back(parameter._version());
    for (const auto& [name, buffer] : buffers_) versions.push_back(buffer._version());
    return versions;
}

void Objective::prepare_kept_graphs() {
    if (!kept_.empty() && weight_versions() != kept_versions_) release_kept_graphs();
    if (kept_budget_ >= 0) return;
    // Decided once, at the first product: the device's memory then.
    if (batch_statistics_) {
        kept_budget_ = 0;
    } else if (hvp_memory_setting_) {
        kept_budget_ = *hvp_memory_setting_;
    } else {
        const auto free = free_bytes(device_);
        kept_budget_ = free && allocated_bytes(device_) ? *free / 2 : 0;
    }
}

void Objective::release_kept_graphs() {
    built_gradient_ = torch::Tensor();
    kept_.clear();
    kept_bytes_.clear();
    kept_versions_.clear();
}

KeptGraphs Objective::kept_graphs() const {
    KeptGraphs report;
    report.batch_count = batches_.size();
    for (std::size_t i = 0; i < kept_.size(); ++i)
        if (!kept_[i].empty()) {
            ++report.batches_kept;
            report.bytes += kept_bytes_[i];
        }
    report.budget_bytes = std::max<int64_t>(kept_budget_, 0);
    report.graphs_built = graphs_built_;
    return report;
}

void Objective::begin_graph_pass() {
    prepare_kept_graphs();
    if (!kept_.empty()) return;
    kept_.resize(batches_.size());
    kept_bytes_.assign(batches_.size(), 0);
    kept_versions_ = weight_versions();
}

std::vector<torch::Tensor> Objective::graph_gradient(std::size_t index, bool& kept, ClassifierTally* tally) {
    kept = !kept_[index].empty();
    if (kept) return kept_[index];
    const int64_t kept_total = std::accumulate(kept_bytes_.begin(), kept_bytes_.end(), int64_t{0});
    const std::optional<int64_t> before = kept_budget_ > 0 ? allocated_bytes(device_) : std::nullopt;
    auto gradients = gradient_with_graph(index, tally);
    const std::optional<int64_t> after = allocated_bytes(device_);
    const int64_t graph_bytes = before && after ? *after - *before : -1;
    // Kept only while it fits: the measured size of this graph, and room for
    // one more like it (the next one is measured the same way).
    if (graph_bytes >= 0 && kept_total + 2 * graph_bytes <= kept_budget_) {
        kept_[index] = gradients;
        kept_bytes_[index] = graph_bytes;
        ++graphs_built_;
        kept = true;
    }
    return gradients;
}

// One pass over the batches that builds (and keeps, within the budget) each
// graph, tallies the loss from the same forward passes and sums the gradient.
LossAndAccuracy Objective::build_graphs() {
    begin_graph_pass();
    ClassifierTally tally;
    torch::Tensor total;
    for (std::size_t b = 0; b < batches_.size(); ++b) {
        bool kept = false;
        const torch::Tensor flat = flatten(graph_gradient(b, kept, &tally)).detach();
        if (!kept) restore_running_statistics();
        total = total.defined() ? total + flat : flat;
    }
    built_gradient_ = total;
    return tally.mean();
}

bool Objective::graphs_started() const {
    return std::any_of(kept_.begin(), kept_.end(), [](const auto& gradients) { return !gradients.empty(); });
}

LossAndAccuracy Objective::loss_and_accuracy_keeping_graphs() {
    prepare_kept_graphs();
    // Without room for graphs, or with graphs already built, a forward pass
    // without autograd is the cheaper way to the loss.
    if (kept_budget_ == 0 || graphs_started()) return loss_and_accuracy();
    const LossAndAccuracy result = build_graphs();
    require_finite_loss(result);
    return result;
}

torch::Tensor Objective::gradient_keeping_graphs() {
    prepare_kept_graphs();  // drops graphs, and the gradient built with them, when the weights changed
    if (!built_gradient_.defined() || !graphs_started()) build_graphs();
    require_finite_gradient(built_gradient_);
    return built_gradient_;
}

torch::Tensor Objective::hessian_vector_product(const torch::Tensor& vector) {
    const auto directions = unflatten(vector.to(device_, dtype_));
    begin_graph_pass();
    torch::Tensor total;
    for (std::size_t b = 0; b < batches_.size(); ++b) {
        bool keep = false;
        const std::vector<torch::Tensor> gradients = graph_gradient(b, keep);
        torch::Tensor directional = torch::zeros({}, gradients.front().options());
        for (std::size_t i = 0; i < gradients.size(); ++i) directional = directional + (gradients[i] * directions[i]).sum();
        if (!directional.requires_grad()) {  // the loss is linear in every selected parameter
            if (!keep) restore_running_statistics();
            total = total.defined() ? total : torch::zeros({dimension_}, vector.options().dtype(dtype_).device(device_));
            continue;
        }
        const torch::Tensor flat = flatten(gradients_or_zeros(directional, selected_tensors_, false, keep));
        if (!keep) restore_running_statistics();
        total = total.defined() ? total + flat : flat;
    }
    ++hvp_count_;
    if (!torch::isfinite(total).all().item<bool>())
        throw NonFiniteGradient("a Hessian-vector product is not finite (NaN or infinite): the loss is not twice "
                    "differentiable here or overflows; try float64");
    return total;
}

}  // namespace cellscape
