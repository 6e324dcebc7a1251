#include "cellscape/analysis/model.hpp"

#include <fmt/format.h>

#include "cellscape/io/paths.hpp"
#include "cellscape/nn/network.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {

ModuleModel::ModuleModel(std::shared_ptr<torch::nn::Module> module,
                         std::function<torch::Tensor(const torch::Tensor&)> forward,
                         std::vector<std::pair<std::string, std::string>> groups, bool observed,
                         std::function<void(torch::MemoryFormat)> set_layout)
    : set_layout_(std::move(set_layout)),
      module_(std::move(module)),
      forward_(std::move(forward)),
      groups_(std::move(groups)),
      observed_(observed) {}

std::string ModuleModel::hidden() const {
    if (observed_) return "";
    return "a LibTorch module other than cellscape's DARTS network does not show its ReLUs and layers to cellscape; "
           "save it as TorchScript and load that";
}

namespace {

// A NaN weight would make every score of the model NaN: refused when loaded,
// as a checkpoint's are.
void require_finite(const NamedTensors& tensors, const std::string& kind, const std::string& path) {
    if (const std::string* name = first_non_finite(tensors))
        throw Error(fmt::format("the TorchScript module {}: {} '{}' holds NaN or infinite values; the model is "
                                "unusable: save it again from finite weights",
                                path, kind, *name));
}

}  // namespace

ScriptModel::ScriptModel(const std::string& path, bool fast_operators) : path_(path) {
    check_input_file(path, "torchscript");  // a FIFO would block torch::jit::load forever
    try {
        module_ = torch::jit::load(path, torch::kCPU);
    } catch (const c10::Error& error) {
        throw Error(fmt::format("{} is not a TorchScript module that LibTorch can load (save one with "
                                "torch.jit.script(model).save(path) or torch.jit.trace): {}",
                                path, error.what_without_backtrace()));
    }
    require_finite(named_parameters(), "parameter", path);
    require_finite(named_buffers(), "buffer", path);
    if (fast_operators) rewrite_ = nn::use_fast_operators(module_);
    observation_ = nn::add_observation_points(module_);
}

std::string ScriptModel::parameters_missing() {
    if (!named_parameters().empty()) return "";
    return fmt::format("the TorchScript module {} has no parameters (a module made by torch.jit.freeze holds its "
                       "weights as constants: save it before freezing)",
                       path_);
}

std::string ScriptModel::rectifier_inputs_hidden() const {
    if (observation_.rectifiers > 0) return "";
    return fmt::format("the TorchScript module {} applies no aten::relu", path_);
}

std::string ScriptModel::layer_outputs_hidden() const {
    if (observation_.hidden_layers > 0)
        return fmt::format("{} convolutions of the TorchScript module {} have an eval-mode batch norm folded into "
                           "them, which hides their own outputs: load it as saved, without cellscape's operators",
                           observation_.hidden_layers, path_);
    if (observation_.layers == 0)
        return fmt::format("the TorchScript module {} has no convolution or linear layer cellscape recognizes "
                           "(aten::conv2d, aten::_convolution, aten::linear)",
                           path_);
    return "";
}

torch::Tensor ScriptModel::forward(const torch::Tensor& inputs) {
    torch::jit::IValue output;
    try {
        output = module_.forward({inputs});
    } catch (const std::exception& error) {
        throw Error(fmt::format("the TorchScript module {} failed on inputs of shape {}: {}", path_,
                                c10::str(inputs.sizes()), error.what()));
    }
    if (!output.isTensor())
        throw Error(fmt::format("the TorchScript module {} must return one tensor of logits, not {}", path_,
                                output.tagKind()));
    return output.toTensor();
}

NamedTensors ScriptModel::named_parameters() {
    NamedTensors tensors;
    for (const auto& item : module_.named_parameters(true)) tensors.emplace_back(item.name, item.value);
    return tensors;
}

NamedTensors ScriptModel::named_buffers() {
    NamedTensors tensors;
    for (const auto& item : module_.named_buffers(true)) tensors.emplace_back(item.name, item.value);
    return tensors;
}

std::unique_ptr<Model> darts_model(nn::DartsNetwork network) {
    std::vector<std::size_t> normal, reduce;
    for (std::size_t i = 0; i < network->layout().size(); ++i) (network->layout()[i].reduction ? reduce : normal).push_back(i);
    std::vector<std::pair<std::string, std::string>> groups = {
        {"stem", R"(^stem\.)"},
        {"cells", R"(^cells\.)"},
        {"normal", fmt::format(R"(^cells\.({})\.)", fmt::join(normal, "|"))},
        {"reduce", fmt::format(R"(^cells\.({})\.)", fmt::join(reduce, "|"))},
        {"classifier", R"(^classifier\.)"},
    };
    return std::make_unique<ModuleModel>(
        network.ptr(), [network](const torch::Tensor& x) mutable { return network->forward(x); }, groups,
        /*observed=*/true, [network](torch::MemoryFormat format) mutable { network->set_memory_format(format); });
}

std::unique_ptr<Model> model_from_checkpoint(const TrainingState& state, const std::string& origin) {
    nn::DartsNetwork whole = network_from_checkpoint(state, origin);  // checks the weights
    if (!state.network.auxiliary) return darts_model(whole);
    // The function analysed is the classifier; the auxiliary head only shapes
    // training, so it is left out (its parameters would be Hessian null directions).
    TrainingState classifier = state;
    classifier.weights_hash.clear();  // checked above, with the head
    classifier.network.auxiliary = false;
    auto outside_head = [](const NamedTensors& tensors) {
        NamedTensors kept;
        for (const auto& item : tensors)
            if (item.first.rfind("auxiliary_head.", 0) != 0) kept.push_back(item);
        return kept;
    };
    classifier.parameters = outside_head(state.parameters);
    classifier.buffers = outside_head(state.buffers);
    return darts_model(network_from_checkpoint(classifier, origin));
}

}  // namespace cellscape
