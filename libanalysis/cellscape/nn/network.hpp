#pragma once
// The DARTS evaluation network built from any genotype (docs/science.md section 1):
// stem, `layers` cells with reduction cells at layers/3 and 2*layers/3, an
// optional auxiliary head, global average pooling and a linear classifier.
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <deque>
#include <vector>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/nn/network_config.hpp"
#include "cellscape/nn/operations.hpp"

namespace cellscape::nn {

// Work a cell shares between the readers of a tensor (all off: the textbook
// cell, every reader computing its own). `rectified_inputs`: the inputs come
// rectified (relu of the earlier cells' outputs or of the stem; both
// preprocessings start with a ReLU). `rectified_output`: the output goes out
// as relu(concat), made from the states' ReLUs, instead of the concatenation.
// `pooling`: edges that pool the same state alike share one output.
struct CellSharing {
    bool rectified_inputs = false;
    bool rectified_output = false;
    bool pooling = false;
};

// Whole-edge dropout while training: each sample's output of an edge is
// zeroed with `probability` and the rest rescaled by 1 / (1 - probability).
// A network draws its masks as it reaches the edges; a packed network takes
// the masks its members drew beforehand from their own random streams
// (`masks`: one N x K mask per dropping edge, in the order the forward pass
// reaches them; train/packed_trainer.cpp).
struct DropPath {
    DropPath(double p = 0.0, std::deque<torch::Tensor>* given = nullptr) : probability(p), masks(given) {}
    double probability;
    std::deque<torch::Tensor>* masks;
};

// One cell: preprocessing of its two inputs to C channels, then the edges of
// the genotype, summed per node, the concat nodes concatenated; `pack`
// members side by side (nn/packed_layout.hpp).
class CellModule : public torch::nn::Module {
public:
    CellModule(const Cell& genotype_cell, int64_t channels_before_previous, int64_t previous_channels,
               int64_t channels, bool reduction, bool previous_was_reduction, int64_t pack = 1);
    torch::Tensor forward(const torch::Tensor& before_previous, const torch::Tensor& previous, DropPath drop_path,
                          CellSharing sharing = {});
    // One member's output channels.
    int64_t output_channels() const { return channels_ * static_cast<int64_t>(concat_.size()); }
    // The edges drop path applies to (all but identities), each one mask draw per step.
    int64_t dropping_edges() const;

private:
    std::shared_ptr<EdgeOperation> preprocess0_, preprocess1_;
    std::vector<std::shared_ptr<EdgeOperation>> operations_;
    std::vector<int> sources_;
    std::vector<int> same_output_as_;  // per edge: an earlier edge with the same output, or -1
    std::vector<int> concat_;
    int64_t channels_;
    int64_t pack_;
};

// ReLU, 5x5 average pooling with stride 3, 1x1 conv to 128, BN, ReLU, 2x2
// conv to 768, BN, ReLU, linear classifier. Built for the feature-map size it
// will see (8x8 for 32x32 inputs); needs at least 8x8.
class AuxiliaryHead : public torch::nn::Module {
public:
    AuxiliaryHead(int64_t channels, int64_t height, int64_t width, int64_t classes, int64_t pack = 1);
    torch::Tensor forward(const torch::Tensor& features);

private:
    torch::nn::Sequential features_{nullptr};
    torch::nn::Linear classifier_{nullptr};
    int64_t pack_;
};

// Where each cell sits: its node channels (C, doubled at each reduction),
// output channels (C times the concat length) and output feature-map size.
struct CellLayout {
    bool reduction;
    int64_t channels;
    int64_t output_channels;
    int64_t height;
    int64_t width;
};

// The network; with pack = K, K replicates of it as one packed network
// (nn/packed_layout.hpp): images N x (K * channels) x H x W, member k's in
// channels [k * channels, (k + 1) * channels), and logits N x (K * classes),
// member-major. Its parameters and buffers are the members' stacked along
// dimension 0 (train/packed_trainer.hpp, pack_tensors).
class DartsNetworkImpl : public torch::nn::Module {
public:
    DartsNetworkImpl(const Genotype& genotype, const NetworkConfig& config, int64_t pack = 1);

    struct Output {
        torch::Tensor logits;
        torch::Tensor auxiliary_logits;  // undefined unless training with the auxiliary head
    };
    Output forward_with_auxiliary(const torch::Tensor& images);
    torch::Tensor forward(const torch::Tensor& images) { return forward_with_auxiliary(images).logits; }

    // Drop-path probability of every non-identity edge while training.
    void set_drop_path(double probability) { drop_path_ = probability; }
    // A packed network's drop-path masks for its next training forward pass:
    // drop_path_edges() masks of N x K, in the order the pass reaches the
    // edges (each member's column drawn from its stream with drop_path_mask).
    void set_drop_path_masks(std::deque<torch::Tensor> masks) { drop_path_masks_ = std::move(masks); }
    int64_t drop_path_edges() const;
    int64_t pack() const { return pack_; }
    // Memory layout of the feature maps after the stem. Channels-last lets
    // oneDNN run convolutions and pooling several times faster on CPUs; the
    // input's own layout cannot carry it (a 1-channel image is ambiguous).
    void set_memory_format(torch::MemoryFormat format) { memory_format_ = format; }
    const NetworkConfig& config() const { return config_; }
    const std::vector<CellLayout>& layout() const { return layout_; }

    // Parameter counts: the network without the auxiliary head, and the head (of all members).
    int64_t parameter_count() const;
    int64_t auxiliary_parameter_count() const;

private:
    NetworkConfig config_;
    std::vector<CellLayout> layout_;
    torch::nn::Sequential stem_{nullptr};
    torch::nn::ModuleList cells_{nullptr};
    std::vector<std::shared_ptr<CellModule>> cell_modules_;
    std::shared_ptr<AuxiliaryHead> auxiliary_head_;
    int64_t auxiliary_after_cell_ = -1;
    torch::nn::Linear classifier_{nullptr};
    double drop_path_ = 0.0;
    std::deque<torch::Tensor> drop_path_masks_;
    torch::MemoryFormat memory_format_ = torch::MemoryFormat::ChannelsLast;
    int64_t pack_ = 1;
};
TORCH_MODULE(DartsNetwork);

}  // namespace cellscape::nn
