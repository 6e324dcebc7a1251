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
};

NetworkSize network_size(const Genotype& genotype, const NetworkConfig& config);

// The memory this process may still use (MemAvailable of /proc/meminfo), if known.
std::optional<int64_t> available_memory_bytes();

// SettingError when running `size` on batches of `batch_size` would need more
// than `available_bytes`: "init_channels" when the parameters alone (with
// their gradients and optimizer state when `training`) do not fit,
// "batch_size" when the activations of one batch do not.
void require_fits_in_memory(const NetworkSize& size, const NetworkConfig& config, int64_t batch_size,
                            int64_t bytes_per_value, bool training, int64_t available_bytes);

}  // namespace cellscape::nn
