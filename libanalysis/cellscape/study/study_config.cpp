#include "cellscape/study/study_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>
#include <toml.hpp>

#include "cellscape/util/error.hpp"
#include "cellscape/util/seed.hpp"

namespace cellscape {
namespace {

// How `value` is spelled in its file (underscores dropped): toml11 reads a
// decimal integer beyond 64 bits (18446744073709551615) as 2^63 - 1
// without an error, so a seed's rule is applied to its text, not to the
// number toml11 made of it.
std::string toml_text(const toml::value& value) {
    const toml::source_location where = value.location();
    const std::string& line = where.line_str();
    std::string text = where.column() >= 1 && where.column() - 1 + where.region() <= line.size()
                           ? line.substr(where.column() - 1, where.region())
                           : toml::format(value);
    if (value.is_integer()) text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    return text;
}

// The seed a TOML value spells by util/seed.hpp's rule, or nullopt. TOML's
// hexadecimal, octal and binary integers (0x2A, 0o52, 0b101010) are whole
// numbers too: read in their base, within the same bound.
std::optional<uint64_t> seed_of_toml(const toml::value& value) {
    if (!value.is_integer()) return std::nullopt;
    const std::string text = toml_text(value);
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o' || text[1] == 'b')) {
        const int base = text[1] == 'x' ? 16 : text[1] == 'o' ? 8 : 2;
        uint64_t parsed = 0;
        const auto [end, error] = std::from_chars(text.data() + 2, text.data() + text.size(), parsed, base);
        if (error != std::errc() || end != text.data() + text.size() || parsed > max_seed) return std::nullopt;
        return parsed;
    }
    return parse_seed(text);
}

// Reads the keys of one TOML table into settings, remembering which keys it
// knows so that anything else can be reported as unknown.
class TableReader {
public:
    TableReader(const toml::value& table, std::string name, const std::filesystem::path& file)
        : table_(table), name_(std::move(name)), file_(file) {}

    template <typename T>
    void read(const std::string& key, T& target) {
        known_.insert(key);
        if (!table_.contains(key)) return;
        try {
            target = toml::get<T>(table_.at(key));
        } catch (const std::exception&) {
            throw error(key, fmt::format("has the wrong type (expected {})", type_name<T>()));
        }
    }

    // A seed, by util/seed.hpp's rule (seed_of_toml).
    void read_seed(const std::string& key, uint64_t& target) {
        known_.insert(key);
        if (!table_.contains(key)) return;
        const auto seed = seed_of_toml(table_.at(key));
        if (!seed) throw error(key, fmt::format("is {}; {}", toml_text(table_.at(key)), seed_rule()));
        target = *seed;
    }

    // A name of an enum's value (e.g. "train" for Split), or a list of them.
    template <typename Enum>
    void read_name(const std::string& key, Enum& target) {
        std::string text;
        read(key, text);
        if (table_.contains(key)) target = parse(key, text, target);
    }
    template <typename Enum>
    void read_name(const std::string& key, std::optional<Enum>& target) {
        std::string text;
        read(key, text);
        if (table_.contains(key)) target = parse(key, text, Enum{});
    }
    template <typename Enum>
    void read_names(const std::string& key, std::vector<Enum>& target) {
        std::vector<std::string> texts;
        read(key, texts);
        if (!table_.contains(key)) return;
        target.clear();
        for (const auto& text : texts) target.push_back(parse(key, text, Enum{}));
    }

    Error error(const std::string& key, const std::string& problem) const {
        return study_config_error(file_, name_, key, problem);
    }

    // The sub-table `key` (an empty table when absent).
    TableReader table(const std::string& key) {
        known_.insert(key);
        if (table_.contains(key) && !table_.at(key).is_table())
            throw error(key, fmt::format("must be a table ([{}])", where(key)));
        return TableReader(table_.contains(key) ? table_.at(key) : empty(), where(key), file_);
    }

    void reject_unknown_keys() const {
        if (!table_.is_table()) return;
        for (const auto& [key, value] : table_.as_table())
            if (!known_.count(key))
                throw error(key, fmt::format("is not a known key; known here: {} (see docs/study.md)",
                                             fmt::join(known_, ", ")));
    }

private:
    template <typename Enum>
    Enum parse(const std::string& key, const std::string& text, Enum) const {
        try {
            return parse_name<Enum>(text, key);
        } catch (const SettingError& wrong) {
            throw error(key, wrong.problem());
        }
    }
    static const toml::value& empty() {
        static const toml::value table(toml::table{});  // (braces would make an array)
        return table;
    }
    std::string where(const std::string& key) const { return name_.empty() ? key : name_ + "." + key; }
    template <typename T>
    static const char* type_name() {
        if constexpr (std::is_same_v<T, bool>) return "true or false";
        else if constexpr (std::is_same_v<T, std::string>) return "a string";
        else if constexpr (std::is_floating_point_v<T>) return "a number";
        else if constexpr (std::is_integral_v<T>) return "an integer";
        else return "a list";
    }

    const toml::value& table_;
    std::string name_;
    std::filesystem::path file_;
    std::set<std::string> known_;
};

// A training or network setting's place in the config.
std::string section_of_training_setting(const std::string& setting) {
    if (setting == "dataset" || setting == "train_size" || setting == "test_size") return "data";
    if (setting == "init_channels" || setting == "layers" || setting == "input_shape" || setting == "classes")
        return "network";
    return "training";
}

void read_training(TableReader& top, StudyConfig& config) {
    TableReader data = top.table("data");
    data.read("dataset", config.training.dataset);
    data.read("train_size", config.training.train_size);
    data.read("test_size", config.training.test_size);
    data.reject_unknown_keys();

    TableReader network = top.table("network");
    network.read("init_channels", config.network.init_channels);
    network.read("layers", config.network.layers);
    network.read("auxiliary", config.network.auxiliary);
    network.reject_unknown_keys();

    TableReader training = top.table("training");
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

void read_analysis(TableReader& top, StudyConfig& config) {
    TableReader analysis = top.table("analysis");
    analysis.read("epochs", config.analysis_epochs);
    analysis.read_seed("seed", config.analysis_seed);
    TableReader hessian = analysis.table("hessian");
    StudyHessianSettings& h = config.hessian;
    hessian.read("enabled", h.enabled);
    hessian.read("top_k", h.top_k);
    hessian.read("tol", h.tol);
    hessian.read("ncv", h.ncv);
    hessian.read("trace", h.trace);
    hessian.read("trace_max_probes", h.trace_max_probes);
    hessian.read("trace_rtol", h.trace_rtol);
    hessian.read("density", h.density);
    hessian.read("slq_steps", h.slq_steps);
    hessian.read("slq_runs", h.slq_runs);
    hessian.read("samples", h.samples);
    hessian.read("batch_size", h.batch_size);
    hessian.read_name("bn", h.bn);
    hessian.read_name("solver", h.solver);
    hessian.read_name("by_part", h.parts);
    hessian.reject_unknown_keys();
    TableReader surface = analysis.table("surface");
    StudySurfaceSettings& s = config.surface;
    surface.read("enabled", s.enabled);
    surface.read("x", s.x);
    surface.read("y", s.y);
    surface.read_names("eval", s.evaluations);
    surface.read("samples", s.samples);
    surface.read("batch_size", s.batch_size);
    surface.read("gradient_variance", s.gradient_variance);
    surface.read("gv_batches", s.gv_batches);
    surface.read("gv_batch_size", s.gv_batch_size);
    surface.read_name("gv_split", s.gv_split);
    surface.read_name("gv_bn", s.gv_bn);
    surface.read("basin_level", s.basin_level);
    if (!(s.basin_level > 1) || !std::isfinite(s.basin_level))
        throw surface.error("basin_level", fmt::format("must be a number above 1, a multiple of the loss at the "
                                                       "origin (got {}); the default is 2",
                                                       s.basin_level));
    surface.read("direction_pairs", s.direction_pairs);
    if (s.direction_pairs < 1 || s.direction_pairs > 100)
        throw surface.error("direction_pairs",
                            fmt::format("must be between 1 and 100 (got {})", s.direction_pairs));
    surface.reject_unknown_keys();
    TableReader gradvar = analysis.table("gradient_variance");
    gradvar.read("enabled", config.gradient_variance.enabled);
    gradvar.read("batches", config.gradient_variance.batches);
    gradvar.read("batch_size", config.gradient_variance.batch_size);
    gradvar.read_name("bn", config.gradient_variance.bn);
    gradvar.read_name("by_part", config.gradient_variance.parts);
    gradvar.reject_unknown_keys();
    TableReader proxies = analysis.table("proxies");
    proxies.read("enabled", config.proxies.enabled);
    proxies.read_names("proxies", config.proxies.proxies);
    if (config.proxies.proxies.empty())
        throw proxies.error("proxies", "lists no proxy; leave the key out for all, or set enabled = false");
    proxies.read("samples", config.proxies.samples);
    proxies.read("zico_batches", config.proxies.zico_batches);
    proxies.read_name("dtype", config.proxies.dtype);
    proxies.reject_unknown_keys();
    analysis.reject_unknown_keys();
}

// [statistics]: how the summary decides (study_tables.hpp, StudyStatistics).
void read_statistics(TableReader& top, StudyConfig& config) {
    TableReader table = top.table("statistics");
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
void read_seeds(TableReader& top, const toml::value& root, StudyConfig& config) {
    std::vector<int64_t> seeds;
    top.read("seeds", seeds);
    if (!root.contains("seeds")) return;
    for (const toml::value& seed : root.at("seeds").as_array())
        if (!seed_of_toml(seed))
            throw top.error("seeds", fmt::format("has {}; {}", toml_text(seed), seed_rule()));
    if (seeds.empty()) throw top.error("seeds", "lists no seed; e.g. seeds = [1, 2, 3], or leave the key out");
    if (seeds.size() > 1000) throw top.error("seeds", fmt::format("lists {} seeds; at most 1000", seeds.size()));
    const toml::value& training = root.contains("training") ? root.at("training") : root;
    if (training.is_table() && training.contains("seed"))
        throw top.error("seeds", "and [training] seed are both given: the replicates' seeds replace the one "
                                 "training seed; remove [training] seed");
    for (std::size_t i = 0; i < seeds.size(); ++i) {
        if (seeds[i] < 0) throw top.error("seeds", fmt::format("has {}; {}", seeds[i], seed_rule()));
        for (std::size_t j = 0; j < i; ++j)
            if (seeds[i] == seeds[j])
                throw top.error("seeds", fmt::format("lists {} twice; each replicate needs its own seed", seeds[i]));
        config.seeds.push_back(static_cast<uint64_t>(seeds[i]));
    }
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
    return Error(fmt::format("{}: {}{}: {}", file.string(), section.empty() ? "" : "[" + section + "] ", key, problem));
}

StudyConfig StudyConfig::load(const std::filesystem::path& path) {
    if (!std::filesystem::exists(path))
        throw Error(fmt::format("study config {} does not exist (data/studies/quick.toml is an example)", path.string()));
    if (!std::filesystem::is_regular_file(path))
        throw Error(fmt::format("study config {} is not a file (a directory?): name a TOML file, e.g. "
                                "data/studies/quick.toml",
                                path.string()));
    toml::value root;
    try {
        root = toml::parse(path.string());
    } catch (const std::exception& error) {
        throw Error(fmt::format("{} is not valid TOML: {}", path.string(), error.what()));
    }
    StudyConfig config;
    config.source = path;
    config.name = path.stem().string();
    config.training.checkpoint_epochs.clear();
    TableReader top(root, "", path);
    top.read("name", config.name);
    top.read("cells", config.cells);
    top.read("device", config.device);
    top.read("threads", config.threads);
    top.read("cuda_float32", config.cuda_float32);
    read_training(top, config);
    read_analysis(top, config);
    read_seeds(top, root, config);
    read_statistics(top, config);
    TableReader slurm = top.table("slurm");
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
