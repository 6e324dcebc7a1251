// One replicate's work: its training and its analyses at each checkpoint, each
// output reused when it exists with the same settings (study/detail/replicate_analyses.hpp).
#include "cellscape/study/detail/replicate_analyses.hpp"

#include "cellscape/study/detail/replicate_files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "cellscape/analysis/gradient_variance_file.hpp"
#include "cellscape/analysis/hessian_file.hpp"
#include "cellscape/analysis/proxies_file.hpp"
#include "cellscape/analysis/surface.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/packed_trainer.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/progress.hpp"
#include "cellscape/util/settings_difference.hpp"

namespace cellscape::study_detail {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Between the steps of a study, where nothing is half written.
void stop_if_interrupted(const std::string& next) {
    if (InterruptGuard::requested())
        throw Interrupted(InterruptGuard::signal_number(),
                          fmt::format("interrupted before {}; rerun the same command to continue", next));
}

// The replicate's own copy of the config: its training seed.
StudyConfig replicate_config(const StudyConfig& config, uint64_t seed) {
    StudyConfig copy = config;
    copy.training.seed = seed;
    return copy;
}

StudyAnalyses resolve_analyses(const StudyConfig& config) {
    // A setting's SettingError as an error about its key in the config.
    auto in = [&](const std::string& section, auto resolve) {
        try {
            resolve();
        } catch (const SettingError& error) {
            throw study_config_error(config.source, section, error.setting(), error.problem());
        }
    };
    StudyAnalyses analyses;
    analyses.context.seed = config.analysis_seed;
    in("", [&] { analyses.context.device = parse_device(config.device); });
    in("", [&] { (void)parse_name<CudaFloat32>(config.cuda_float32, "cuda_float32"); });
    analyses.cuda_float32 = analyses.context.device.is_cuda() ? config.cuda_float32 : "unused";
    if (config.hessian.enabled)
        in("analysis.hessian", [&] { analyses.hessian = resolve_hessian(config.hessian, analyses.context); });
    if (config.gradient_variance.enabled)
        in("analysis.gradient_variance", [&] {
            analyses.gradient_variance = resolve_gradient_variance(config.gradient_variance, analyses.context);
        });
    if (config.surface.enabled)
        in("analysis.surface", [&] { analyses.surface = resolve_surface(config.surface, analyses.context); });
    if (config.proxies.enabled)
        in("analysis.proxies", [&] { analyses.proxies = resolve_proxies(config.proxies, analyses.context); });
    return analyses;
}

namespace {

// The settings each kind of output is made with, as its file records them
// (the "settings" attribute): a rerun with other settings must not reuse
// it. The analysis's own record (as its command writes it), after the
// study's seed.
nlohmann::ordered_json analysis_settings(const StudyAnalyses& analyses, const std::string& kind, int64_t pair = 0) {
    nlohmann::ordered_json settings = {{"analysis_seed", analyses.context.seed}};
    // TensorFloat-32 changes the numbers; IEEE float32 on CUDA is the CPU's in
    // another summation order, and files from before the key stay reusable.
    if (analyses.cuda_float32 == "tf32") settings["cuda_float32"] = "tf32";
    if (pair > 0) settings["direction_pair"] = pair;
    if (kind == "hessian") settings.update(hessian_settings_json(analyses.hessian));
    else if (kind == "gradvar") settings.update(gradient_variance_settings_json(analyses.gradient_variance));
    else if (kind == "proxies") settings.update(proxy_settings_json(analyses.proxies));
    else settings.update(surface_settings_json(analyses.surface));
    return settings;
}

}  // namespace

// The format_version of an existing proxies file (0 when it records none).
int64_t proxies_file_version(const std::filesystem::path& file) {
    const Hdf5File existing(file, Hdf5File::Mode::read);
    return existing.has_attribute("/", "format_version") ? existing.int_attribute("/", "format_version") : 0;
}

// How an existing output's settings differ from `wanted`, if they do.
std::optional<std::string> stored_settings_difference(const std::filesystem::path& file,
                                                      const nlohmann::ordered_json& wanted) {
    const Hdf5File existing(file, Hdf5File::Mode::read);
    const nlohmann::json stored = existing.has_attribute("/", "settings")
                                      ? nlohmann::json::parse(existing.string_attribute("/", "settings"), nullptr, false)
                                      : nlohmann::json::object();
    return settings_difference(stored, wanted);
}

// An existing output made with other settings is refused, with the way out.
void require_same_settings(const std::filesystem::path& file, const nlohmann::ordered_json& wanted) {
    if (const auto difference = stored_settings_difference(file, wanted))
        throw Error(fmt::format("{} was made with other settings ({}); delete it to compute it again with these, or "
                                "run the study into another directory",
                                file.string(), *difference));
}

// A trained cell's checkpoints must come from the config's training: the
// genotype, network and training settings a checkpoint stores are compared.
void require_same_training(const StudyConfig& config, const StudyAnalyses& analyses, const NamedGenotype& cell,
                           const std::filesystem::path& train_dir) {
    std::filesystem::path checkpoint = train_dir / "latest.h5";
    if (!std::filesystem::exists(checkpoint)) checkpoint = train_dir / epoch_checkpoint_name(config.training.epochs);
    if (!std::filesystem::exists(checkpoint)) return;
    const TrainingState trained = read_checkpoint(checkpoint);
    auto difference = training_difference(trained, cell.genotype, config.network, config.training, "the config");
    const std::string& policy = analyses.cuda_float32;
    if (!difference && cuda_float32_differs(trained.cuda_float32, policy))
        difference = fmt::format("cuda_float32 was {}, the config now says {}", trained.cuda_float32, policy);
    if (difference)
        throw Error(fmt::format("{} was trained with other settings ({}); delete {} to train it again with these, or "
                                "run the study into another directory",
                                checkpoint.string(), *difference, train_dir.string()));
}

void train_cell(const StudyConfig& config, const StudyAnalyses& analyses, const NamedGenotype& cell,
                const std::filesystem::path& cell_dir, const std::string& command, ProgressSink* progress) {
    const auto train_dir = cell_dir / "train";
    require_same_training(config, analyses, cell, train_dir);
    if (std::filesystem::exists(train_dir / epoch_checkpoint_name(config.training.epochs))) return;
    TrainingRequest request;
    request.cell = cell;
    request.network = config.network;
    request.training = config.training;
    request.out_dir = train_dir;
    request.device = analyses.context.device;
    request.command = command;
    request.progress = progress;
    if (std::filesystem::exists(train_dir / "latest.h5")) request.resume = train_dir / "latest.h5";
    train_network(request);
}

void train_pack(const StudyConfig& config, const StudyAnalyses& analyses,
                const std::vector<const StudyReplicate*>& replicates, const std::filesystem::path& out_dir,
                const std::string& command, ProgressSink* progress) {
    PackedTrainingRequest request;
    for (const StudyReplicate* replicate : replicates) {
        const auto train_dir = out_dir / replicate->directory / "train";
        const StudyConfig member = replicate_config(config, replicate->seed);
        require_same_training(member, analyses, replicate->cell, train_dir);
        if (std::filesystem::exists(train_dir / epoch_checkpoint_name(member.training.epochs))) continue;
        request.seeds.push_back(member.training.seed);
        request.out_dirs.push_back(train_dir);
    }
    if (request.seeds.size() < 2) return;
    request.cell = replicates.front()->cell;
    request.network = config.network;
    request.training = config.training;  // each member's seed is its own (request.seeds)
    request.device = analyses.context.device;
    request.command = command;
    request.progress = progress;
    train_packed(request);
}

std::filesystem::path surface_shard_path(const std::filesystem::path& cell_dir, int64_t epoch, int64_t pair,
                                         int64_t shard, int64_t shards) {
    std::string name = surface_name(epoch, pair);
    name.resize(name.size() - 3);  // ".h5"
    return cell_dir / fmt::format("{}.shard-{}-of-{}.h5", name, shard, shards);
}

// Merges the surface shards of an epoch into its surface files when all exist.
void merge_finished_surface_shards(const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch,
                                   const std::string& command) {
    if (config.slurm_surface_shards < 2) return;
    for (int64_t pair = 0; pair < config.surface.direction_pairs; ++pair) {
        const auto merged = cell_dir / surface_name(epoch, pair);
        if (std::filesystem::exists(merged)) continue;
        std::vector<std::filesystem::path> shards;
        for (int64_t i = 0; i < config.slurm_surface_shards; ++i)
            shards.push_back(surface_shard_path(cell_dir, epoch, pair, i, config.slurm_surface_shards));
        if (std::all_of(shards.begin(), shards.end(), [](const auto& path) { return std::filesystem::exists(path); }))
            merge_surface_shards(merged, shards, command);
    }
}

// Where one cell's analyses at one checkpoint go, and how they are made.
struct CheckpointAnalysis {
    const StudyConfig& config;
    const StudyAnalyses& analyses;
    std::filesystem::path cell_dir;
    int64_t epoch;
    std::string command;
    ProgressSink* progress;

    std::filesystem::path output(const std::string& kind) const { return cell_dir / analysis_name(kind, epoch); }
    ObjectiveSource source() const {
        return {(cell_dir / "train" / epoch_checkpoint_name(epoch)).string(), "", "", ""};
    }
    OutputRecord record(const std::string& kind, double seconds = NAN) const {
        OutputRecord made{command, analysis_settings(analyses, kind).dump()};
        made.seconds = seconds;
        return made;
    }
    OutputRecord surface_record(int64_t pair) const {
        return {command, analysis_settings(analyses, "surface", pair).dump()};
    }
    // True when the output must be computed; an existing one must have these settings.
    bool needed(const std::filesystem::path& file, const std::string& kind, int64_t pair = 0) const {
        if (!std::filesystem::exists(file)) return true;
        require_same_settings(file, analysis_settings(analyses, kind, pair));
        return false;
    }

    void hessian() const {
        if (!config.hessian.enabled || !needed(output("hessian"), "hessian")) return;
        const auto start = std::chrono::steady_clock::now();
        const HessianJob& job = analyses.hessian;
        Objective objective = Objective::load(source(), job.samples, job.objective);
        const HessianReport report = analyse_hessian(objective, job.request, progress);
        write_hessian_file(output("hessian"), objective, report, record("hessian", seconds_since(start)));
    }

    void gradient_variance() const {
        if (!config.gradient_variance.enabled || !needed(output("gradvar"), "gradvar")) return;
        const auto start = std::chrono::steady_clock::now();
        const GradientVarianceJob& job = analyses.gradient_variance;
        Objective objective = Objective::load(source(), job.samples, job.objective);
        const GradientVariance result = cellscape::gradient_variance(objective, progress);
        write_gradient_variance_file(output("gradvar"), {source().checkpoint}, {result}, objective.provenance(),
                                     record("gradvar", seconds_since(start)), job.parts);
    }

    // Every direction pair's surface, or (`shard` set) one shard of each.
    void surfaces(std::optional<int64_t> shard) const {
        if (!config.surface.enabled) return;
        std::optional<LoadedSurfaceObjectives> loaded;  // loaded once, for the first surface still to compute
        for (int64_t pair = 0; pair < config.surface.direction_pairs; ++pair) {
            stop_if_interrupted(fmt::format("the surface of direction pair {}", pair));
            std::filesystem::path out = cell_dir / surface_name(epoch, pair);
            if (!needed(out, "surface", pair)) continue;
            if (shard) {
                out = surface_shard_path(cell_dir, epoch, pair, *shard, config.slurm_surface_shards);
                if (!needed(out, "surface", pair)) continue;
            }
            if (!loaded)
                loaded = load_surface_objectives(source(), analyses.surface.samples, analyses.surface.objective,
                                                 analyses.surface.evaluations);
            SurfaceRequest request = analyses.surface.request;
            if (shard) request.shard = {*shard, config.slurm_surface_shards};
            DirectionRequest directions;
            // The same seeds for every cell: directions comparable in kind.
            directions.seed = config.analysis_seed + static_cast<uint64_t>(pair);
            const SurfaceSlice slice =
                make_surface_slice(*loaded->objectives.evaluations.front().second, directions, request.y.has_value());
            compute_surface(loaded->objectives, slice, request, out, surface_record(pair), progress);
        }
    }
};

// The zero-cost proxies of the replicate's initial network, rebuilt from its
// final checkpoint's seed: what NAS would score before training it.
void replicate_proxies(const StudyConfig& config, const StudyAnalyses& analyses, const std::filesystem::path& cell_dir,
                       const std::string& command, ProgressSink* progress) {
    if (!config.proxies.enabled) return;
    const auto out = proxies_path(cell_dir);
    // Unlike the other analyses, a proxies file made with other settings
    // (e.g. before the default list of proxies grew) is computed again: it
    // costs seconds and is the seed's, whatever was trained.
    if (std::filesystem::exists(out)) {
        auto difference = stored_settings_difference(out, analysis_settings(analyses, "proxies"));
        // A file of format 1 (before refusals) may hold jacob_cov's rounding noise or a NaN: made anew.
        if (!difference)
            if (const int64_t version = proxies_file_version(out); version < proxies_format_version)
                difference = fmt::format("format version {}, before proxies without a value were refused", version);
        if (!difference) return;
        if (progress)
            progress->note(fmt::format("{} was made with other settings ({}); computing it again", out.string(),
                                       *difference));
    }
    const auto start = std::chrono::steady_clock::now();
    ObjectiveSource source;
    source.checkpoint = (cell_dir / "train" / epoch_checkpoint_name(config.training.epochs)).string();
    source.initial_weights = true;
    LoadedModel loaded = load_model_and_samples(source, analyses.proxies.samples);
    const ProxyOptions& options = analyses.proxies.options;
    const ProxyScores scores = zero_cost_proxies(*loaded.model, loaded.samples, options, progress);
    OutputRecord record{command, analysis_settings(analyses, "proxies").dump()};
    record.seconds = seconds_since(start);
    write_proxies_file(out, scores, proxies_provenance(loaded.provenance, scores, options), record);
}

void analyse_checkpoint(const StudyConfig& config, const StudyAnalyses& analyses, const std::filesystem::path& cell_dir,
                        int64_t epoch, const std::string& command, const StudyPart& part, ProgressSink* progress) {
    const CheckpointAnalysis analysis{config, analyses, cell_dir, epoch, command, progress};
    if (part.surface_shard) {
        if (!std::filesystem::exists(analysis.source().checkpoint))
            throw Error(fmt::format("{} does not exist: a surface shard runs after its cell is trained",
                                    analysis.source().checkpoint));
        analysis.surfaces(part.surface_shard);
        return;
    }
    analysis.hessian();
    analysis.gradient_variance();
    if (!part.skip_surfaces) analysis.surfaces(std::nullopt);
}

}  // namespace cellscape::study_detail
