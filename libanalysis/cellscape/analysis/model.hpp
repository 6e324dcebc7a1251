#pragma once
// A model an analysis can evaluate: a forward function, named parameters and
// buffers, a train/eval switch, and moving to a device and dtype. Two kinds
// exist: a LibTorch module (the DARTS network of a checkpoint, or any module
// a test builds) and a TorchScript module saved by PyTorch.
#include <torch/csrc/jit/api/module.h>
#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cellscape/nn/script_operators.hpp"
#include "cellscape/train/checkpoint.hpp"

namespace cellscape {

class Model {
public:
    virtual ~Model() = default;
    virtual torch::Tensor forward(const torch::Tensor& inputs) = 0;
    virtual NamedTensors named_parameters() = 0;
    virtual NamedTensors named_buffers() = 0;
    virtual void set_training(bool training) = 0;
    virtual void to(torch::Device device, torch::ScalarType dtype) = 0;
    // Named parameter groups this model knows (e.g. "normal", "reduce",
    // "stem", "classifier" for DARTS networks), as name regexes.
    virtual std::vector<std::pair<std::string, std::string>> parameter_groups() const { return {}; }
    // Whether forward passes show this thread's nn::ForwardObserver
    // (nn/forward_observer.hpp) every ReLU's input, and every convolution's
    // and linear layer's output: "" when they do, else why not, for an error.
    virtual std::string rectifier_inputs_hidden() const = 0;
    virtual std::string layer_outputs_hidden() const = 0;
    // The layout of the activations the forward pass computes in (a model
    // that has no choice ignores it): the same function, rounded differently.
    virtual void set_memory_format(torch::MemoryFormat) {}
    // "" when the model has parameters, else a sentence saying why it has
    // none and what would give it some (for an error).
    virtual std::string parameters_missing() {
        return named_parameters().empty() ? "the model has no parameters" : "";
    }
};

// A LibTorch module with its forward function.
class ModuleModel : public Model {
public:
    // `observed`: the module shows its layers to a ForwardObserver (cellscape's DARTS network does).
    ModuleModel(std::shared_ptr<torch::nn::Module> module,
                std::function<torch::Tensor(const torch::Tensor&)> forward,
                std::vector<std::pair<std::string, std::string>> groups = {}, bool observed = false,
                std::function<void(torch::MemoryFormat)> set_layout = {});
    torch::Tensor forward(const torch::Tensor& inputs) override { return forward_(inputs); }
    NamedTensors named_parameters() override { return named_parameters_of(*module_); }
    NamedTensors named_buffers() override { return named_buffers_of(*module_); }
    void set_training(bool training) override { module_->train(training); }
    void to(torch::Device device, torch::ScalarType dtype) override { module_->to(device, dtype); }
    std::vector<std::pair<std::string, std::string>> parameter_groups() const override { return groups_; }
    std::string rectifier_inputs_hidden() const override { return hidden(); }
    std::string layer_outputs_hidden() const override { return hidden(); }
    void set_memory_format(torch::MemoryFormat format) override {
        if (set_layout_) set_layout_(format);
    }

private:
    std::string hidden() const;
    std::function<void(torch::MemoryFormat)> set_layout_;
    std::shared_ptr<torch::nn::Module> module_;
    std::function<torch::Tensor(const torch::Tensor&)> forward_;
    std::vector<std::pair<std::string, std::string>> groups_;
    bool observed_;
};

// A TorchScript module (torch.jit.script or torch.jit.trace, then save).
// By default its graph runs cellscape's convolution, batch-norm, ReLU and
// concatenation operators in place of LibTorch's (nn/script_operators.hpp):
// the same function, with Hessian-vector products about 3x cheaper;
// `fast_operators` false runs the module as saved. Either way its graph gets
// the identity observation points of nn::add_observation_points.
class ScriptModel : public Model {
public:
    explicit ScriptModel(const std::string& path, bool fast_operators = true);
    torch::Tensor forward(const torch::Tensor& inputs) override;
    NamedTensors named_parameters() override;
    NamedTensors named_buffers() override;
    void set_training(bool training) override { module_.train(training); }
    void to(torch::Device device, torch::ScalarType dtype) override { module_.to(device, dtype); }
    // The nodes replaced by cellscape's operators (all zero when run as saved).
    const nn::ScriptRewrite& rewrite() const { return rewrite_; }
    std::string rectifier_inputs_hidden() const override;
    std::string layer_outputs_hidden() const override;
    std::string parameters_missing() override;

private:
    std::string path_;
    torch::jit::Module module_;
    nn::ScriptRewrite rewrite_;
    nn::ScriptObservation observation_;
};

// A DARTS network as a model, with the parameter groups stem, cells (all),
// normal, reduce and classifier, switching to NCHW for double backward.
std::unique_ptr<Model> darts_model(nn::DartsNetwork network);

// The DARTS network of a checkpoint without its auxiliary head, with the
// parameter groups stem, cells (all), normal, reduce and classifier.
std::unique_ptr<Model> model_from_checkpoint(const TrainingState& state, const std::string& origin);

}  // namespace cellscape
