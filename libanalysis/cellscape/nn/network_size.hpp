#pragma once
// How big a DARTS evaluation network is before it is built (torch-free): its
// parameter count, computed from the genotype and the config with the
// operations' formulas, and a lower bound on the activations one sample
// needs. The command line and the study check a network fits in memory with
// these before they allocate anything.
#include <cstdint>
#include <optional>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/nn/network_config.hpp"

namespace cellscape::nn {

struct NetworkSize {
    int64_t parameters = 0;            // as DartsNetworkImpl::parameter_count(): without the auxiliary head
    int64_t auxiliary_parameters = 0;  // of the auxiliary head, when the config has one
    // Values in the stem's and every cell's output feature maps for one
    // sample: a forward pass holds at least these (training keeps them all).
    int64_t activations_per_sample = 0;
    // Values a training step keeps per sample for its backward pass: every
    // operation's intermediate maps (a sep_conv's two ReLU-conv-conv-BN
    // stacks are 8 maps of the edge's output size, a dil_conv 4, a max pool
    // its output and indices), the preprocessings', the node sums and the
    // stem's. Measured (DARTS_V2, C=16, 8 cells, 28x28, 1 thread): a
    // training step's peak memory grows by 9.1 MB per sample, this counts
    // 11.6 MB in float32 (docs/reliability.md).
    int64_t training_values_per_sample = 0;
    // Multiply-adds of one sample's forward pass through the convolutions
    // and the classifier (without the auxiliary head): each output value of
    // a convolution costs (input channels / groups) x kernel area of them,
    // each logit the classifier's input features. BatchNorm (folded into the
    // convolution at inference), ReLU, pooling and the node sums are not
    // counted: the convention of NAS papers' "FLOPs" (DARTS counts
    // multiply-adds) and of thop. PyTorch's torch.utils.flop_counter counts
    // 2 per multiply-add on the same layers (tests/cli/test_rank_cli.py).
    int64_t multiply_adds = 0;
};

NetworkSize network_size(const Genotype& genotype, const NetworkConfig& config);


// SettingError when running `size` on batches of `batch_size` would need more
// than `available_bytes`: "init_channels" when the parameters alone (with
// their gradients and optimizer state when `training`) do not fit,
// "batch_size" when the activations of one batch do not.
void require_fits_in_memory(const NetworkSize& size, const NetworkConfig& config, int64_t batch_size,
                            int64_t bytes_per_value, bool training, int64_t available_bytes);

}  // namespace cellscape::nn
