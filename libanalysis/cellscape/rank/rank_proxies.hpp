#pragma once
// Zero-cost proxies of every cell of a table at initialization, as NAS
// scores untrained candidates: each cell's network (nn/network.hpp) built
// from each seed as `cellscape train` starts it, scored by
// zero_cost_proxies (analysis/proxies.hpp) on one batch of the dataset
// chosen by the seed (the same batch for every cell: the cells are compared
// on the same images). Every (cell, seed) is appended to a rows file as it
// finishes, so an interrupted run (Ctrl-C, kill -9) continues where it
// stopped; several run side by side on threads.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cellscape/analysis/objective_settings.hpp"
#include "cellscape/cells/genotype.hpp"
#include "cellscape/data/dataset.hpp"
#include "cellscape/nn/network_config.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {

struct RankProxyOptions {
    std::vector<Proxy> proxies;
    std::vector<uint64_t> seeds{1};
    nn::NetworkConfig network;  // its input shape and classes must be the dataset's when there is one
    // The dataset's spec, as recorded with each kept row. Empty: data-free
    // proxies only (synflow reads nothing but the input's shape; the batch
    // zero_cost_proxies checks the logits on is two blank images).
    std::string dataset;
    int64_t samples = 64;       // the batch, as the reference code's batches of the NAS benchmarks
    int64_t zico_batches = 2;
    std::string device = "cpu";
    int jobs = 1;               // cells scored side by side (threads; the caller picks LibTorch's threads)
    std::filesystem::path rows_file;  // where finished cells are kept; empty: not kept

    // SettingError naming the field (proxies, seeds, samples, jobs, dataset).
    void validate() const;
    // The settings a kept row must have been made with to be reused (JSON).
    std::string settings_key() const;
};

struct RankProxyScores {
    std::vector<Proxy> proxies;
    // scores[p][c][s]: proxy p of cell c from seed s (NaN where refused).
    std::vector<std::vector<std::vector<double>>> scores;
    // Per proxy: how many (cell, seed) refused it, and the first reason given.
    std::vector<int64_t> refused;
    std::vector<std::string> first_refusal;
    int64_t reused = 0, computed = 0;  // rows taken from the rows file, rows computed now
    int64_t unreadable_rows = 0;       // lines of the rows file that were not rows (a write cut short)
    double seconds = 0;                // computing, this run
};

// `dataset` is options.dataset loaded (nullptr without one); its training
// split gives each seed's batch. Error naming the cell and seed when one
// fails; Interrupted (after the finished rows are kept) on Ctrl-C or SIGTERM.
RankProxyScores rank_proxies(const std::vector<Genotype>& genotypes, const RankProxyOptions& options,
                             const Dataset* dataset, ProgressSink* progress = nullptr);

}  // namespace cellscape
