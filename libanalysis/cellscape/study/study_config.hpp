#pragma once
// A study's TOML configuration (docs/study.md): the cells, the data, the
// network, the training schedule, and which analyses run at which
// checkpoints. Torch-free, so the command line can read it cheaply.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/analysis/objective_settings.hpp"
#include "cellscape/analysis/parameter_parts.hpp"
#include "cellscape/nn/network_config.hpp"
#include "cellscape/study/study_tables.hpp"
#include "cellscape/train/training_config.hpp"

namespace cellscape {

struct StudyHessianSettings {
    bool enabled = true;
    int64_t top_k = 1;
    double tol = 1e-3;  // as EigenOptions
    int64_t ncv = 0;  // Lanczos basis size before a thick restart; 0: automatic (EigenOptions)
    bool trace = true;
    int64_t trace_max_probes = 30;
    double trace_rtol = 0.05;
    bool density = false;
    int64_t slq_steps = 30, slq_runs = 3;
    int64_t samples = 256, batch_size = 128;
    // BatchNorm's mode for the Hessian: "eval" (running statistics, the
    // network as evaluated) or "train" (each batch's statistics, the loss
    // SGD descends).
    BatchNormMode bn = BatchNormMode::eval;
    EigenSolver solver = EigenSolver::lanczos;  // "spectra": Spectra's SymEigsSolver
    // by_part = "cell" or "edge": curvature by part (analysis/parameter_parts.hpp),
    // as the hessian command's by-part option: each part's top eigenvalue (a solve
    // per part, when top_k > 0) and share of the trace (free, when trace).
    std::optional<PartLevel> parts;
};

struct StudySurfaceSettings {
    bool enabled = true;
    std::string x = "-1:1:11", y = "-1:1:11";  // y empty: 1D
    std::vector<Split> evaluations{Split::test};
    int64_t samples = 500, batch_size = 64;
    bool gradient_variance = false;
    int64_t gv_batches = 5, gv_batch_size = 64;
    Split gv_split = Split::train;                // the samples of the gradient variance
    BatchNormMode gv_bn = BatchNormMode::eval;    // and BatchNorm's mode for it
    // Basin metrics cut the slice at this multiple of the origin's loss
    // (analysis/basin.hpp).
    double basin_level = 2.0;
    // Independent direction pairs (slices) per replicate and analysis epoch;
    // pair k draws its directions with seed analysis.seed + k.
    int64_t direction_pairs = 1;
};

struct StudyGradientVarianceSettings {
    bool enabled = true;
    int64_t batches = 10, batch_size = 64;
    BatchNormMode bn = BatchNormMode::eval;  // "train": the gradient noise SGD sees
    std::optional<PartLevel> parts;          // by_part: the variance split by part, as the gradvar command's
};

// Zero-cost proxies (analysis/proxies.hpp) of each replicate's initial
// network, the untrained candidate NAS would score: one file per replicate,
// shared by its analysis epochs' rows.
struct StudyProxySettings {
    bool enabled = false;
    std::vector<Proxy> proxies = all_proxies();
    int64_t samples = 64;      // training images (chosen by analysis.seed), one batch as the reference code's
    int64_t zico_batches = 2;  // ZiCo splits them into this many batches
    // float32 as the reference code runs (as exact as its float32, computed
    // contiguous); float64 for scores that do not move with the thread count.
    Precision dtype = Precision::float32;
};

struct StudyConfig {
    std::filesystem::path source;  // the TOML file it was read from
    std::string name;
    std::vector<std::string> cells;  // cell specs, as every command's CELL argument
    // Training seeds: every cell is trained and analysed once per seed (a
    // replicate), each in its own directory, <cell>/seed-<s>/. Empty
    // (no top-level `seeds` key): one replicate with [training] seed, in the
    // cell's directory itself.
    std::vector<uint64_t> seeds;
    bool replicated() const { return !seeds.empty(); }
    nn::NetworkConfig network;
    TrainingConfig training;
    std::string device = "cpu";
    int threads = 0;  // 0: all cores
    // float32 on CUDA: "ieee" or "tf32" (util/device.hpp); the command line
    // sets it for the process, as it does threads.
    std::string cuda_float32 = "ieee";
    // Checkpoints the analyses run at (epochs); default: the last epoch.
    std::vector<int64_t> analysis_epochs;
    // Convergence speed: how many epochs the training loss (a quarter-epoch
    // moving average of the step losses) takes to reach this.
    double loss_threshold = 1.0;
    uint64_t analysis_seed = 0;  // samples and directions, the same for every cell
    StudyHessianSettings hessian;
    StudySurfaceSettings surface;
    StudyGradientVarianceSettings gradient_variance;
    StudyProxySettings proxies;
    // How the summary's tables decide: alpha, power, equivalence bound,
    // resamples ([statistics]; its seed is analysis_seed).
    StudyStatistics statistics;
    // On Slurm: split each surface into this many point shards, each an
    // array task of its own (1: the cell's task computes the whole surface).
    int64_t slurm_surface_shards = 1;

    // Throws Error naming the file, the key and the fix (unknown keys
    // included, so a typo is not silently ignored). What needs LibTorch to
    // check (devices, the analyses' settings) is checked by
    // validate_study (study/study.hpp), before any work.
    static StudyConfig load(const std::filesystem::path& path);
};

// "file: [section] key: problem": an error about a key of a study config.
Error study_config_error(const std::filesystem::path& file, const std::string& section, const std::string& key,
                         const std::string& problem);

}  // namespace cellscape
