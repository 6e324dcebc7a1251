#pragma once
// How a study's [analysis.proxies] table asks for the zero-cost proxies of
// each replicate's initial network (read_proxy_settings): which proxies, on
// how many training images, ZiCo's batches and the floating-point type.
// Torch-free, so a config can hold it; analysis/proxies.hpp resolves it into
// what runs and records it.
#include <cstdint>
#include <vector>

#include "cellscape/analysis/objective_settings.hpp"

namespace cellscape {

class TomlTable;

struct ProxySettings {
    bool enabled = false;
    std::vector<Proxy> proxies = all_proxies();
    int64_t samples = 64;      // training images (chosen by analysis.seed), one batch as the reference code's
    int64_t zico_batches = 2;  // ZiCo splits them into this many batches
    // float32 as the reference code runs (as exact as its float32, computed
    // contiguous); float64 for scores that do not move with the thread count.
    Precision dtype = Precision::float32;
};

// Reads the table's keys (enabled, proxies, samples, zico_batches, dtype)
// into `settings`; unknown keys, wrong types and an empty list are errors
// naming the key. The values are judged by resolve_proxies.
void read_proxy_settings(TomlTable& table, ProxySettings& settings);

}  // namespace cellscape
