#include "cellscape/study/study_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>

#include "cellscape/io/toml_table.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {
namespace {

// A training or network setting's place in the config.
std::string section_of_training_setting(const std::string& setting) {
    if (setting == "dataset" || setting == "train_size" || setting == "test_size") return "data";
    if (setting == "init_channels" || setting == "layers" || setting == "input_shape" || setting == "classes")
        return "network";
    return "training";
}

void read_training(TomlTable& top, StudyConfig& config) {
    TomlTable data = top.table("data");
    data.read("dataset", config.training.dataset);
    data.read("train_size", config.training.train_size);
    data.read("test_size", config.training.test_size);
    data.reject_unknown_keys();

    TomlTable network = top.table("network");
    network.read("init_channels", config.network.init_channels);
    network.read("layers", config.network.layers);
    network.read("auxiliary", config.network.auxiliary);
    network.reject_unknown_keys();

    TomlTable training = top.table("training");
    TrainingConfig& t = config.training;
    training.read("epochs", t.epochs);
    training.read("batch_size", t.batch_size);
    training.read("learning_rate", t.learning_rate);
    training.read("min_learning_rate", t.min_learning_rate);
    training.read("momentum", t.momentum);
    training.read("weight_decay", t.weight_decay);
    training.read("gradient_clip", t.gradient_clip);
    training.read("drop_path", t.drop_path);
    training.read("auxiliary_weight", t.auxiliary_weight);
    training.read("crop_padding", t.augmentation.crop_padding);
    training.read("horizontal_flip", t.augmentation.horizontal_flip);
    training.read("cutout", t.augmentation.cutout);
    training.read_seed("seed", t.seed);
    training.read("checkpoint_epochs", t.checkpoint_epochs);
    training.read("loss_threshold", config.loss_threshold);
    training.reject_unknown_keys();
}

void read_analysis(TomlTable& top, StudyConfig& config) {
    TomlTable analysis = top.table("analysis");
    analysis.read("epochs", config.analysis_epochs);
    analysis.read_seed("seed", config.analysis_seed);
    TomlTable hessian = analysis.table("hessian");
    read_hessian_settings(hessian, config.hessian);
    TomlTable surface = analysis.table("surface");
    read_surface_settings(surface, config.surface);
    TomlTable gradvar = analysis.table("gradient_variance");
    read_gradient_variance_settings(gradvar, config.gradient_variance);
    TomlTable proxies = analysis.table("proxies");
    read_proxy_settings(proxies, config.proxies);
    analysis.reject_unknown_keys();
}

// [statistics]: how the summary decides (study_tables.hpp, StudyStatistics).
void read_statistics(TomlTable& top, StudyConfig& config) {
    TomlTable table = top.table("statistics");
    StudyStatistics& s = config.statistics;
    table.read("alpha", s.alpha);
    table.read("power", s.power);
    table.read("equivalence_bound", s.equivalence_bound);
    table.read("bootstrap_samples", s.bootstrap_samples);
    table.read("permutations", s.permutations);
    table.read("power_simulations", s.power_simulations);
    table.reject_unknown_keys();
    try {
        s.validate();
    } catch (const SettingError& error) {
        throw table.error(error.setting(), error.problem());
    }
}

// `seeds = [...]`: distinct non-negative training seeds, one replicate each;
// instead of [training] seed, not beside it.
void read_seeds(TomlTable& top, StudyConfig& config) {
    top.read_seeds("seeds", config.seeds);
    if (!top.has("seeds")) return;
    if (config.seeds.empty()) throw top.error("seeds", "lists no seed; e.g. seeds = [1, 2, 3], or leave the key out");
    if (config.seeds.size() > 1000)
        throw top.error("seeds", fmt::format("lists {} seeds; at most 1000", config.seeds.size()));
    if (top.table("training").has("seed"))
        throw top.error("seeds", "and [training] seed are both given: the replicates' seeds replace the one "
                                 "training seed; remove [training] seed");
    for (std::size_t i = 0; i < config.seeds.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (config.seeds[i] == config.seeds[j])
                throw top.error("seeds",
                                fmt::format("lists {} twice; each replicate needs its own seed", config.seeds[i]));
}

// The analysis epochs (default: the last), each of which needs a checkpoint.
void settle_analysis_epochs(StudyConfig& config) {
    TrainingConfig& t = config.training;
    if (config.analysis_epochs.empty()) config.analysis_epochs.push_back(t.epochs);
    for (std::size_t i = 0; i < config.analysis_epochs.size(); ++i) {
        const int64_t epoch = config.analysis_epochs[i];
        if (std::find(config.analysis_epochs.begin(), config.analysis_epochs.begin() + static_cast<std::ptrdiff_t>(i),
                      epoch) != config.analysis_epochs.begin() + static_cast<std::ptrdiff_t>(i))
            throw study_config_error(config.source, "analysis", "epochs",
                                     fmt::format("lists {} twice: each analysis epoch once", epoch));
        if (epoch < 1 || epoch > t.epochs)
            throw study_config_error(config.source, "analysis", "epochs",
                                     fmt::format("has {}, outside 1 to {} (training.epochs)", epoch, t.epochs));
        if (epoch != t.epochs &&
            std::find(t.checkpoint_epochs.begin(), t.checkpoint_epochs.end(), epoch) == t.checkpoint_epochs.end())
            t.checkpoint_epochs.push_back(epoch);
    }
    std::sort(t.checkpoint_epochs.begin(), t.checkpoint_epochs.end());
}

}  // namespace

Error study_config_error(const std::filesystem::path& file, const std::string& section, const std::string& key,
                         const std::string& problem) {
    return toml_setting_error(file, section, key, problem);
}

StudyConfig StudyConfig::load(const std::filesystem::path& path) {
    if (!std::filesystem::exists(path))
        throw Error(fmt::format("study config {} does not exist (data/studies/quick.toml is an example)", path.string()));
    if (!std::filesystem::is_regular_file(path))
        throw Error(fmt::format("study config {} is not a file (a directory?): name a TOML file, e.g. "
                                "data/studies/quick.toml",
                                path.string()));
    TomlTable top = TomlTable::parse_file(path);
    StudyConfig config;
    config.source = path;
    config.name = path.stem().string();
    config.training.checkpoint_epochs.clear();
    top.read("name", config.name);
    top.read("cells", config.cells);
    top.read("device", config.device);
    top.read("threads", config.threads);
    top.read("cuda_float32", config.cuda_float32);
    read_training(top, config);
    read_analysis(top, config);
    read_seeds(top, config);
    top.read("pack", config.pack);
    if (config.pack < 1 || config.pack > 64)
        throw top.error("pack", fmt::format("must be from 1 (each replicate alone) to 64 (got {})", config.pack));
    read_statistics(top, config);
    TomlTable slurm = top.table("slurm");
    slurm.read("surface_shards", config.slurm_surface_shards);
    if (config.slurm_surface_shards < 1)
        throw slurm.error("surface_shards", fmt::format("must be at least 1 (got {})", config.slurm_surface_shards));
    slurm.reject_unknown_keys();
    top.reject_unknown_keys();

    if (config.cells.empty())
        throw top.error("cells", "lists no cell; e.g. cells = [\"DARTS_V2\", \"DARTS_V2:chain\"]");
    if (config.name.empty() ||
        std::any_of(config.name.begin(), config.name.end(), [](char c) { return std::iscntrl(static_cast<unsigned char>(c)); }))
        throw top.error("name", "must be a non-empty name without control characters (a tab or a newline), e.g. "
                                "name = \"quick\"; leave it out to use the file's name");
    try {
        config.training.validate();
        config.network.validate();
    } catch (const SettingError& error) {
        // The [data], [network] and [training] keys are the settings' own names.
        throw study_config_error(path, section_of_training_setting(error.setting()), error.setting(), error.problem());
    }
    settle_analysis_epochs(config);
    return config;
}

}  // namespace cellscape
