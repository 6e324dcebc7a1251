#pragma once
// A study's TOML configuration (docs/study.md): the cells, the data, the
// network, the training schedule, and which analyses run at which
// checkpoints. Torch-free, so the command line can read it cheaply.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/analysis/gradient_variance_settings.hpp"
#include "cellscape/analysis/hessian_settings.hpp"
#include "cellscape/analysis/proxy_settings.hpp"
#include "cellscape/analysis/surface_settings.hpp"
#include "cellscape/nn/network_config.hpp"
#include "cellscape/study/study_tables.hpp"
#include "cellscape/train/training_config.hpp"

namespace cellscape {

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
    // Up to this many seeds of a cell train as one packed network
    // (train/packed_trainer.hpp) and run as one unit of work (a local job
    // process, a Slurm array task); 1: each replicate alone.
    int64_t pack = 1;
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
    // Each analysis's settings, its own type, read by its own reader
    // (analysis/*_settings.hpp) and resolved by it (study/detail/replicate_analyses.hpp).
    HessianSettings hessian;
    SurfaceSettings surface;
    GradientVarianceSettings gradient_variance;
    ProxySettings proxies;  // of each replicate's initial network, shared by its analysis epochs' rows
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

// "file: [section] key: problem": an error about a key of a study config
// (io/toml_table.hpp's toml_setting_error).
Error study_config_error(const std::filesystem::path& file, const std::string& section, const std::string& key,
                         const std::string& problem);

}  // namespace cellscape
