#pragma once
// The DARTS evaluation network built from any genotype (docs/science.md section 1):
// stem, `layers` cells with reduction cells at layers/3 and 2*layers/3, an
// optional auxiliary head, global average pooling and a linear classifier.
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

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

// One cell: preprocessing of its two inputs to C channels, then the edges of
// the genotype, summed per node, the concat nodes concatenated.
class CellModule : public torch::nn::Module {
public:
    CellModule(const Cell& genotype_cell, int64_t channels_before_previous, int64_t previous_channels,
               int64_t channels, bool reduction, bool previous_was_reduction);
    torch::Tensor forward(const torch::Tensor& before_previous, const torch::Tensor& previous, double drop_path,
                          CellSharing sharing = {});
    int64_t output_channels() const { return channels_ * static_cast<int64_t>(concat_.size()); }

private:
    std::shared_ptr<EdgeOperation> preprocess0_, preprocess1_;
    std::vector<std::shared_ptr<EdgeOperation>> operations_;
    std::vector<int> sources_;
    std::vector<int> same_output_as_;  // per edge: an earlier edge with the same output, or -1
    std::vector<int> concat_;
    int64_t channels_;
};

// ReLU, 5x5 average pooling with stride 3, 1x1 conv to 128, BN, ReLU, 2x2
// conv to 768, BN, ReLU, linear classifier. Built for the feature-map size it
// will see (8x8 for 32x32 inputs); needs at least 8x8.
class AuxiliaryHead : public torch::nn::Module {
public:
    AuxiliaryHead(int64_t channels, int64_t height, int64_t width, int64_t classes);
    torch::Tensor forward(const torch::Tensor& features);

private:
    torch::nn::Sequential features_{nullptr};
    torch::nn::Linear classifier_{nullptr};
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

class DartsNetworkImpl : public torch::nn::Module {
public:
    DartsNetworkImpl(const Genotype& genotype, const NetworkConfig& config);

    struct Output {
        torch::Tensor logits;
        torch::Tensor auxiliary_logits;  // undefined unless training with the auxiliary head
    };
    Output forward_with_auxiliary(const torch::Tensor& images);
    torch::Tensor forward(const torch::Tensor& images) { return forward_with_auxiliary(images).logits; }

    // Drop-path probability of every non-identity edge while training.
    void set_drop_path(double probability) { drop_path_ = probability; }
    // Memory layout of the feature maps after the stem. Channels-last lets
    // oneDNN run convolutions and pooling several times faster on CPUs; the
    // input's own layout cannot carry it (a 1-channel image is ambiguous).
    void set_memory_format(torch::MemoryFormat format) { memory_format_ = format; }
    const NetworkConfig& config() const { return config_; }
    const std::vector<CellLayout>& layout() const { return layout_; }

    // Parameter counts: the network without the auxiliary head, and the head.
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
    torch::MemoryFormat memory_format_ = torch::MemoryFormat::ChannelsLast;
};
TORCH_MODULE(DartsNetwork);

}  // namespace cellscape::nn
