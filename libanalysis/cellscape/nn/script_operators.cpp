#include "cellscape/nn/script_operators.hpp"

#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <fmt/format.h>

#include <optional>
#include <vector>

#include "cellscape/nn/convolution.hpp"
#include "cellscape/nn/detail/fast_autograd.hpp"
#include "cellscape/nn/forward_observer.hpp"
#include "cellscape/nn/operations.hpp"

namespace cellscape::nn {
namespace {

using at::IntArrayRef;
using torch::Tensor;
using torch::jit::Node;
using torch::jit::Value;

// ---- the operators

// A geometry argument as written in the graph: one value for both
// dimensions, or two.
std::optional<std::array<int64_t, 2>> pair_of(IntArrayRef values) {
    if (values.size() == 1) return std::array<int64_t, 2>{values[0], values[0]};
    if (values.size() == 2) return std::array<int64_t, 2>{values[0], values[1]};
    return std::nullopt;
}

std::optional<ConvolutionGeometry> geometry_of(IntArrayRef stride, IntArrayRef padding, IntArrayRef dilation,
                                               int64_t groups) {
    const auto s = pair_of(stride), p = pair_of(padding), d = pair_of(dilation);
    if (!s || !p || !d) return std::nullopt;
    return ConvolutionGeometry{*s, *p, *d, groups};
}

Tensor convolution_operator(const Tensor& input, const Tensor& weight, const std::optional<Tensor>& bias,
                            IntArrayRef stride, IntArrayRef padding, IntArrayRef dilation, int64_t groups) {
    const auto geometry = geometry_of(stride, padding, dilation, groups);
    if (input.dim() != 4 || weight.dim() != 4 || !geometry)
        return at::convolution(input, weight, bias, stride, padding, dilation, false,
                               std::vector<int64_t>(static_cast<std::size_t>(std::max<int64_t>(input.dim() - 2, 0)), 0),
                               groups);
    return convolution(input, weight, *geometry, bias.value_or(Tensor()));
}

// The convolution of `input` with weight w * scale and bias b * scale + shift:
// BatchNorm's per-channel affine map applied to conv(input, w) + b.
Tensor convolution_batch_norm_operator(const Tensor& input, const Tensor& weight, const std::optional<Tensor>& bias,
                                       IntArrayRef stride, IntArrayRef padding, IntArrayRef dilation, int64_t groups,
                                       const std::optional<Tensor>& gamma, const std::optional<Tensor>& beta,
                                       const Tensor& running_mean, const Tensor& running_var, double eps) {
    const auto [scale, shift] = eval_batch_norm_affine(gamma.value_or(Tensor()), beta.value_or(Tensor()),
                                                       running_mean, running_var, eps);
    std::vector<int64_t> per_channel(static_cast<std::size_t>(weight.dim()), 1);
    per_channel[0] = -1;
    const Tensor folded_bias = bias ? *bias * scale + shift : shift;
    return convolution_operator(input, weight * scale.view(per_channel), folded_bias, stride, padding, dilation,
                                groups);
}

Tensor batch_norm_eval_operator(const Tensor& input, const std::optional<Tensor>& gamma,
                                const std::optional<Tensor>& beta, const Tensor& running_mean,
                                const Tensor& running_var, double eps) {
    const auto [scale, shift] = eval_batch_norm_affine(gamma.value_or(Tensor()), beta.value_or(Tensor()),
                                                       running_mean, running_var, eps);
    // Channels are dimension 1, as in batch_norm, whatever the input's rank.
    std::vector<int64_t> per_channel(static_cast<std::size_t>(input.dim()), 1);
    per_channel[1] = -1;
    return torch::addcmul(shift.view(per_channel), input, scale.view(per_channel));
}

Tensor rectify_operator(const Tensor& x) { return rectify(x); }

Tensor concatenate_operator(at::TensorList parts, int64_t dim) {
    const bool channel_maps = !parts.empty() && std::all_of(parts.begin(), parts.end(), [](const Tensor& part) {
        return part.dim() == 4;
    });
    if (channel_maps && (dim == 1 || dim == -3)) return concatenate_channels(parts);
    return torch::cat(parts, dim);
}

// Observation points (nn/forward_observer.hpp): the identity when no
// observer is set on the thread.
Tensor observe_rectifier_input_operator(const Tensor& x) {
    observe_rectifier_input(x);
    return x;
}

Tensor observe_layer_output_operator(const Tensor& output, const Tensor& weight) {
    return observe_layer_output(weight, output);
}

}  // namespace
}  // namespace cellscape::nn

// Each is registered with its implementation only, the CompositeImplicitAutograd
// kernel: autograd records the operations inside it (cellscape's own
// autograd functions), which is where the fast derivatives come from.
TORCH_LIBRARY(cellscape, library) {
    using namespace cellscape::nn;
    library.def("convolution(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, "
                "int groups) -> Tensor",
                &convolution_operator);
    library.def("convolution_batch_norm(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, "
                "int[] dilation, int groups, Tensor? gamma, Tensor? beta, Tensor running_mean, Tensor running_var, "
                "float eps) -> Tensor",
                &convolution_batch_norm_operator);
    library.def("batch_norm_eval(Tensor input, Tensor? gamma, Tensor? beta, Tensor running_mean, "
                "Tensor running_var, float eps) -> Tensor",
                &batch_norm_eval_operator);
    library.def("rectify(Tensor x) -> Tensor", &rectify_operator);
    library.def("concatenate(Tensor[] parts, int dim) -> Tensor", &concatenate_operator);
    // Conservative: they act outside the graph (the observer), so the JIT
    // must neither merge two of them on the same tensor (common
    // subexpressions: two ReLU modules reading one state are two counts) nor
    // drop or reorder them.
    library.def(torch::schema("observe_rectifier_input(Tensor x) -> Tensor", c10::AliasAnalysisKind::CONSERVATIVE),
                &observe_rectifier_input_operator);
    library.def(torch::schema("observe_layer_output(Tensor output, Tensor weight) -> Tensor",
                              c10::AliasAnalysisKind::CONSERVATIVE),
                &observe_layer_output_operator);
}

namespace cellscape::nn {
namespace {

// ---- the graph rewrite

bool is_operator(const Node* node, const char* name, std::size_t inputs) {
    const c10::FunctionSchema* schema = node->maybeSchema();
    return schema && schema->name() == name && schema->overload_name().empty() && node->inputs().size() == inputs;
}

bool constant_false(Value* value) {
    const auto constant = torch::jit::toIValue(value);
    return constant && constant->isBool() && !constant->toBool();
}

bool is_tensor(const Value* value) { return value->type()->isSubtypeOf(*c10::TensorType::get()); }

// Replaces `node`'s one output by a call of `name` on `inputs`, inserted where `node` was.
Node* replace_node(Node* node, const char* name, const std::vector<Value*>& inputs) {
    torch::jit::WithInsertPoint here(node);
    std::vector<torch::jit::NamedValue> arguments(inputs.begin(), inputs.end());
    Value* output = node->owningGraph()->insert(c10::Symbol::fromQualString(name), arguments);
    output->setType(node->output()->type());
    node->output()->replaceAllUsesWith(output);
    node->destroy();
    return output->node();
}

// aten::_convolution (traced modules) and aten::conv2d (scripted ones), not transposed.
std::optional<std::vector<Value*>> convolution_arguments(Node* node) {
    if (is_operator(node, "aten::_convolution", 13) && constant_false(node->input(6)))
        return std::vector<Value*>{node->input(0), node->input(1), node->input(2), node->input(3),
                                   node->input(4), node->input(5), node->input(8)};
    if (is_operator(node, "aten::conv2d", 7))
        return std::vector<Value*>(node->inputs().begin(), node->inputs().end());
    return std::nullopt;
}

// An eval batch_norm with running statistics: gamma, beta, mean, var, eps.
std::optional<std::vector<Value*>> eval_batch_norm_arguments(Node* node) {
    if (!is_operator(node, "aten::batch_norm", 9) || !constant_false(node->input(5))) return std::nullopt;
    if (!is_tensor(node->input(3)) || !is_tensor(node->input(4))) return std::nullopt;
    return std::vector<Value*>{node->input(1), node->input(2), node->input(3), node->input(4), node->input(7)};
}

void rewrite_block(torch::jit::Block* block, ScriptRewrite& rewrite) {
    const std::vector<Node*> nodes(block->nodes().begin(), block->nodes().end());
    for (Node* node : nodes) {
        for (torch::jit::Block* inner : node->blocks()) rewrite_block(inner, rewrite);
        if (auto arguments = convolution_arguments(node)) {
            replace_node(node, "cellscape::convolution", *arguments);
            ++rewrite.convolutions;
        } else if (auto statistics = eval_batch_norm_arguments(node)) {
            Value* input = node->input(0);
            Node* producer = input->node();
            if (producer->kind() == c10::Symbol::fromQualString("cellscape::convolution") && input->uses().size() == 1) {
                std::vector<Value*> folded(producer->inputs().begin(), producer->inputs().end());
                folded.insert(folded.end(), statistics->begin(), statistics->end());
                replace_node(node, "cellscape::convolution_batch_norm", folded);
                producer->destroy();
                ++rewrite.folded_batch_norms;
            } else {
                statistics->insert(statistics->begin(), input);
                replace_node(node, "cellscape::batch_norm_eval", *statistics);
                ++rewrite.batch_norms;
            }
        } else if (is_operator(node, "aten::relu", 1)) {
            replace_node(node, "cellscape::rectify", {node->input(0)});
            ++rewrite.rectifiers;
        } else if (is_operator(node, "aten::cat", 2)) {
            replace_node(node, "cellscape::concatenate", {node->input(0), node->input(1)});
            ++rewrite.concatenations;
        }
    }
}

// ---- the observation points

bool is_rectifier(const Node* node) {
    return is_operator(node, "aten::relu", 1) || is_operator(node, "aten::relu_", 1) ||
           node->kind() == c10::Symbol::fromQualString("cellscape::rectify");
}

// The weight of a convolution or linear layer node, or nullptr. A
// convolution with a batch norm folded in is not one: its own output is gone.
Value* layer_weight(Node* node) {
    if (convolution_arguments(node) || is_operator(node, "aten::linear", 3) ||
        node->kind() == c10::Symbol::fromQualString("cellscape::convolution"))
        return node->input(1);
    return nullptr;
}

void observe_block(torch::jit::Block* block, ScriptObservation& observation) {
    const std::vector<Node*> nodes(block->nodes().begin(), block->nodes().end());
    for (Node* node : nodes) {
        for (torch::jit::Block* inner : node->blocks()) observe_block(inner, observation);
        torch::jit::Graph& graph = *node->owningGraph();
        if (is_rectifier(node)) {
            torch::jit::WithInsertPoint here(node);
            Value* shown = graph.insert(c10::Symbol::fromQualString("cellscape::observe_rectifier_input"),
                                        {torch::jit::NamedValue(node->input(0))});
            shown->setType(node->input(0)->type());
            node->replaceInput(0, shown);
            ++observation.rectifiers;
        } else if (Value* weight = layer_weight(node)) {
            Value* output = node->output();
            torch::jit::WithInsertPoint after(node->next());
            Value* shown = graph.insert(c10::Symbol::fromQualString("cellscape::observe_layer_output"),
                                        {torch::jit::NamedValue(output), torch::jit::NamedValue(weight)});
            shown->setType(output->type());
            output->replaceAllUsesWith(shown);
            shown->node()->replaceInput(0, output);
            ++observation.layers;
        } else if (node->kind() == c10::Symbol::fromQualString("cellscape::convolution_batch_norm")) {
            ++observation.hidden_layers;
        }
    }
}

}  // namespace

std::string ScriptRewrite::describe() const {
    if (total() == 0) return "as saved";
    return fmt::format("cellscape's operators for {} convolutions ({} with their batch norm folded in), {} other "
                       "eval batch norms, {} ReLUs and {} concatenations",
                       convolutions, folded_batch_norms, batch_norms, rectifiers, concatenations);
}

ScriptRewrite use_fast_operators(torch::jit::Module& module) {
    const std::shared_ptr<torch::jit::Graph> graph = module.get_method("forward").graph();
    torch::jit::Inline(*graph);
    ScriptRewrite rewrite;
    rewrite_block(graph->block(), rewrite);
    torch::jit::EliminateDeadCode(graph);
    return rewrite;
}

ScriptObservation add_observation_points(torch::jit::Module& module) {
    const std::shared_ptr<torch::jit::Graph> graph = module.get_method("forward").graph();
    torch::jit::Inline(*graph);
    ScriptObservation observation;
    observe_block(graph->block(), observation);
    return observation;
}

}  // namespace cellscape::nn
