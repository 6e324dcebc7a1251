#include "cellscape/nn/network.hpp"

#include "cellscape/nn/network_size.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "cellscape/nn/detail/fast_autograd.hpp"
#include "cellscape/nn/forward_observer.hpp"
#include "cellscape/nn/packed_layout.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape::nn {
namespace {

// Whole-edge dropout: each sample's output of the edge is zeroed with
// probability p and the rest rescaled by 1/(1-p). A packed edge output
// N x (K * C) takes the members' N x K mask, each member's column over its
// C channels: per member the same products as its own network's.
torch::Tensor drop_path(const torch::Tensor& x, const DropPath& drop, int64_t pack) {
    const double keep = 1.0 - drop.probability;
    if (!drop.masks) return x.div(keep).mul(drop_path_mask(x.size(0), drop.probability, x.options()));
    TORCH_CHECK(!drop.masks->empty(), "a packed network drops paths with the masks its members drew "
                                      "(set_drop_path_masks), and has none left");
    const torch::Tensor given = drop.masks->front().to(x.options());
    drop.masks->pop_front();
    const torch::Tensor mask = given.repeat_interleave(x.size(1) / pack, 1).view({x.size(0), x.size(1), 1, 1});
    return x.div(keep).mul(mask);
}

}  // namespace

CellModule::CellModule(const Cell& genotype_cell, int64_t channels_before_previous, int64_t previous_channels,
                       int64_t channels, bool reduction, bool previous_was_reduction, int64_t pack)
    : concat_(genotype_cell.concat), channels_(channels), pack_(pack) {
    if (previous_was_reduction)
        preprocess0_ = register_module("preprocess0", std::make_shared<FactorizedReduce>(channels_before_previous,
                                                                                          channels, pack));
    else
        preprocess0_ = register_module(
            "preprocess0", std::make_shared<ReluConvBatchNorm>(channels_before_previous, channels, 1, 1, 0, pack));
    preprocess1_ = register_module("preprocess1",
                                   std::make_shared<ReluConvBatchNorm>(previous_channels, channels, 1, 1, 0, pack));
    auto list = register_module("ops", torch::nn::ModuleList());
    const auto& edges = genotype_cell.edges;
    for (std::size_t k = 0; k < edges.size(); ++k) {
        const int64_t stride = reduction && edges[k].source < 2 ? 2 : 1;
        operations_.push_back(make_edge_operation(edges[k].op, channels, stride, pack));
        list->push_back(operations_.back());
        sources_.push_back(edges[k].source);
        // A pooling has no weights: two edges pooling the same state alike
        // (DARTS_V2's reduction cell max-pools its two inputs five times) give the
        // same tensor, computed once when the caller shares pooling.
        const bool pooling = edges[k].op == Operation::max_pool_3x3 || edges[k].op == Operation::avg_pool_3x3;
        int same = -1;
        for (std::size_t j = 0; pooling && same < 0 && j < k; ++j)
            if (edges[j].op == edges[k].op && edges[j].source == edges[k].source) same = static_cast<int>(j);
        same_output_as_.push_back(same);
    }
}

int64_t CellModule::dropping_edges() const {
    return static_cast<int64_t>(std::count_if(operations_.begin(), operations_.end(),
                                              [](const auto& operation) { return !operation->is_identity(); }));
}

torch::Tensor CellModule::forward(const torch::Tensor& before_previous, const torch::Tensor& previous,
                                  DropPath drop, CellSharing sharing) {
    auto preprocess = [&](EdgeOperation& operation, const torch::Tensor& input) {
        return keep_gradient_layout(sharing.rectified_inputs ? operation.forward_rectified(input)
                                                             : operation.forward(input));
    };
    std::vector<torch::Tensor> states = {preprocess(*preprocess0_, before_previous),
                                         preprocess(*preprocess1_, previous)};
    std::vector<torch::Tensor> rectified;  // relu(state), made once per state on first use
    auto rectified_state = [&](std::size_t source) {
        if (rectified.size() <= source) rectified.resize(states.size());
        if (!rectified[source].defined()) rectified[source] = rectify(states[source]);
        return rectified[source];
    };
    auto apply = [&](EdgeOperation& operation, std::size_t source) {
        if (!operation.starts_with_relu()) return operation.forward(states[source]);
        observe_rectifier_input(states[source]);  // the edge's own ReLU in the reference network
        return operation.forward_rectified(rectified_state(source));
    };
    const bool dropping = is_training() && drop.probability > 0.0;
    std::vector<torch::Tensor> edge_outputs(operations_.size());
    for (std::size_t node = 0; node * 2 < operations_.size(); ++node) {
        torch::Tensor sum;
        for (std::size_t k = node * 2; k < node * 2 + 2; ++k) {
            const int same = sharing.pooling ? same_output_as_[k] : -1;
            torch::Tensor h = edge_outputs[k] =
                same >= 0 ? edge_outputs[static_cast<std::size_t>(same)]
                          : keep_gradient_layout(apply(*operations_[k], static_cast<std::size_t>(sources_[k])));
            if (dropping && !operations_[k]->is_identity()) h = drop_path(h, drop, pack_);
            sum = sum.defined() ? sum + h : h;
        }
        states.push_back(sum);
    }
    // relu(concat(states)) = concat(relu(state) for each state): the states an
    // edge already rectified are not rectified again.
    std::vector<torch::Tensor> outputs;
    for (int node : concat_) {
        const auto index = static_cast<std::size_t>(node);
        outputs.push_back(sharing.rectified_output ? rectified_state(index) : states[index]);
    }
    return keep_gradient_layout(concatenate_packed_channels(outputs, pack_));
}

AuxiliaryHead::AuxiliaryHead(int64_t channels, int64_t height, int64_t width, int64_t classes, int64_t pack)
    : pack_(pack) {
    // 5x5 pooling with stride 3, then a 2x2 convolution: each side shrinks to (side - 5) / 3 + 1 - 1.
    auto side_after = [](int64_t side) { return side >= 5 ? (side - 5) / 3 : 0; };
    if (side_after(height) < 1 || side_after(width) < 1)
        throw Error(fmt::format("the auxiliary head needs feature maps of at least 8x8 after cell 2*layers/3, but "
                                "this input gives {}x{}; use inputs of 32x32 or larger, or no auxiliary head",
                                height, width));
    namespace nn = torch::nn;
    features_ = register_module(
        "features",
        nn::Sequential(nn::ReLU(), nn::AvgPool2d(nn::AvgPool2dOptions(5).stride(3).padding(0).count_include_pad(false)),
                       nn::Conv2d(nn::Conv2dOptions(pack * channels, pack * 128, 1).groups(pack).bias(false)),
                       nn::BatchNorm2d(pack * 128), nn::ReLU(),
                       nn::Conv2d(nn::Conv2dOptions(pack * 128, pack * 768, 2).groups(pack).bias(false)),
                       nn::BatchNorm2d(pack * 768), nn::ReLU()));
    classifier_ =
        register_module("classifier", nn::Linear(768 * side_after(height) * side_after(width), pack * classes));
}

torch::Tensor AuxiliaryHead::forward(const torch::Tensor& features) {
    // Flattened, a packed map is each member's 768 x h x w features in turn.
    return observe_layer_output(classifier_->weight,
                                packed_linear(*classifier_, run_sequence(features_, 0, features).flatten(1), pack_));
}

DartsNetworkImpl::DartsNetworkImpl(const Genotype& genotype, const NetworkConfig& config, int64_t pack)
    : config_(config), pack_(pack) {
    validate_genotype(genotype);
    config.validate();
    TORCH_CHECK(pack >= 1, "a packed network needs at least one member, got ", pack);
    namespace nn = torch::nn;
    const int64_t stem = stem_channels(config);
    stem_ = register_module("stem", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(pack * config.input_shape[0],
                                                                                  pack * stem, 3)
                                                                   .padding(1)
                                                                   .groups(pack)
                                                                   .bias(false)),
                                                   nn::BatchNorm2d(pack * stem)));
    cells_ = register_module("cells", nn::ModuleList());
    int64_t previous = stem;
    for (const CellPlacement& place : cell_placements(genotype, config)) {
        auto cell = std::make_shared<CellModule>(genotype.cell(place.type), place.before_previous, place.previous,
                                                 place.channels, place.reduction(), place.previous_was_reduction,
                                                 pack);
        cells_->push_back(cell);
        cell_modules_.push_back(cell);
        previous = cell->output_channels();
        layout_.push_back({place.reduction(), place.channels, previous, place.height, place.width});
        if (place.auxiliary_after) {
            auxiliary_head_ = register_module(
                "auxiliary_head",
                std::make_shared<AuxiliaryHead>(previous, place.height, place.width, config.classes, pack));
            auxiliary_after_cell_ = place.layer;
        }
    }
    classifier_ = register_module("classifier", nn::Linear(previous, pack * config.classes));
}

int64_t DartsNetworkImpl::drop_path_edges() const {
    int64_t edges = 0;
    for (const auto& cell : cell_modules_) edges += cell->dropping_edges();
    return edges;
}

DartsNetworkImpl::Output DartsNetworkImpl::forward_with_auxiliary(const torch::Tensor& images) {
    Output output;
    // Every reader of the stem and of a cell's output but the classifier
    // starts with a ReLU (both preprocessings of the next cells), so outside
    // training the cells pass their outputs on rectified, made once for both
    // readers; only the last cell's output stays as it is. The same values;
    // but the gradients would be summed in another order, so training keeps
    // a ReLU per reader (and a pooling per edge): a run trains to bitwise
    // the weights it always has, and the studies in docs/findings.md rerun
    // to the same digits.
    // An observer sees every reader's ReLU (nn/forward_observer.hpp).
    const bool share = !is_training() && !forward_observer();
    const torch::Tensor stem = run_sequence(stem_, 0, images).contiguous(memory_format_);
    torch::Tensor before_previous = share ? rectify(stem) : stem;
    torch::Tensor previous = before_previous;
    const DropPath drop(drop_path_, pack_ > 1 || !drop_path_masks_.empty() ? &drop_path_masks_ : nullptr);
    for (std::size_t layer = 0; layer < cell_modules_.size(); ++layer) {
        const bool last = layer + 1 == cell_modules_.size();
        torch::Tensor next = cell_modules_[layer]->forward(before_previous, previous, drop,
                                                           {share, share && !last, share});
        before_previous = previous;
        previous = next;
        if (auxiliary_head_ && is_training() && static_cast<int64_t>(layer) == auxiliary_after_cell_)
            output.auxiliary_logits = auxiliary_head_->forward(previous);
    }
    output.logits = observe_layer_output(
        classifier_->weight, packed_linear(*classifier_, torch::adaptive_avg_pool2d(previous, {1, 1}).flatten(1), pack_));
    return output;
}

int64_t DartsNetworkImpl::parameter_count() const {
    int64_t count = 0;
    for (const auto& item : named_parameters())
        if (item.key().rfind("auxiliary_head.", 0) != 0) count += item.value().numel();
    return count;
}

int64_t DartsNetworkImpl::auxiliary_parameter_count() const {
    int64_t count = 0;
    if (auxiliary_head_)
        for (const auto& parameter : auxiliary_head_->parameters()) count += parameter.numel();
    return count;
}

nlohmann::ordered_json network_summary(const std::string& name, const Genotype& genotype, const NetworkConfig& config) {
    DartsNetwork network(genotype, config);
    const NetworkSize size = network_size(genotype, config);
    nlohmann::ordered_json summary = {{"name", name},
                                      {"genotype", format_genotype(genotype)},
                                      {"config", config.to_json()},
                                      {"parameters", network->parameter_count()},
                                      {"auxiliary_parameters", network->auxiliary_parameter_count()},
                                      // Of one sample's forward pass (convolutions and classifier, network_size.hpp).
                                      {"multiply_adds", size.multiply_adds},
                                      // What the memory check before training counts per sample (float32).
                                      {"training_bytes_per_sample", 4 * size.training_values_per_sample}};
    nlohmann::ordered_json cells = nlohmann::ordered_json::array();
    for (const CellLayout& cell : network->layout())
        cells.push_back({{"type", cell.reduction ? "reduce" : "normal"},
                         {"node_channels", cell.channels},
                         {"output_channels", cell.output_channels},
                         {"output_size", {cell.height, cell.width}}});
    summary["cells"] = cells;
    return summary;
}

}  // namespace cellscape::nn
