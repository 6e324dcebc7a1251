#include "cellscape/study/study.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string_view>
#include <tuple>

#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/analysis/hessian_report.hpp"
#include "cellscape/analysis/proxies.hpp"
#include "cellscape/analysis/basin.hpp"
#include "cellscape/analysis/surface.hpp"
#include "cellscape/cells/cell_spec.hpp"
#include "cellscape/cells/diagram.hpp"
#include "cellscape/cells/metrics.hpp"
#include "cellscape/data/dataset.hpp"
#include "cellscape/io/graphviz.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/detail/output_lock.hpp"
#include "cellscape/io/paths.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/progress.hpp"
#include "cellscape/util/settings_difference.hpp"

namespace cellscape {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Between the steps of a study, where nothing is half written.
void stop_if_interrupted(const std::string& next) {
    if (InterruptGuard::requested())
        throw Interrupted(InterruptGuard::signal_number(),
                          fmt::format("interrupted before {}; rerun the same command to continue", next));
}

std::string analysis_name(const std::string& kind, int64_t epoch) {
    return fmt::format("{}-epoch-{:04d}.h5", kind, epoch);
}

// Direction pair 0's surface keeps the name of a study without pairs.
std::string surface_name(int64_t epoch, int64_t pair) {
    return pair == 0 ? analysis_name("surface", epoch) : fmt::format("surface-epoch-{:04d}-pair-{}.h5", epoch, pair);
}

// The replicate's own copy of the config: its training seed.
StudyConfig replicate_config(const StudyConfig& config, uint64_t seed) {
    StudyConfig copy = config;
    copy.training.seed = seed;
    return copy;
}

// The analyses' evaluation samples: `count` of the training split, chosen by the analysis seed.
EvaluationSamples training_samples(const StudyConfig& config, int64_t count) {
    EvaluationSamples samples;
    samples.samples = count;
    samples.split = Split::train;
    samples.seed = config.analysis_seed;
    return samples;
}

ObjectiveOptions objective_options(const StudyConfig& config, int64_t batch_size,
                                   BatchNormMode bn = BatchNormMode::eval) {
    ObjectiveOptions options;
    options.batch_size = batch_size;
    options.bn_mode = bn;
    options.device = parse_device(config.device);
    return options;
}

HessianRequest hessian_request(const StudyConfig& config) {
    const StudyHessianSettings& settings = config.hessian;
    HessianRequest request;
    request.top.count = settings.top_k;
    request.top.tol = settings.tol;
    request.top.ncv = settings.ncv;
    request.top.solver = settings.solver;
    request.trace = settings.trace;
    request.trace_options.rtol = settings.trace_rtol;
    request.trace_options.max_probes = settings.trace_max_probes;
    request.trace_options.min_probes = std::min<int64_t>(10, settings.trace_max_probes);
    request.trace_options.seed = config.analysis_seed;
    request.density = settings.density;
    request.density_options.steps = settings.slq_steps;
    request.density_options.runs = settings.slq_runs;
    request.density_options.seed = config.analysis_seed;
    request.parts = settings.parts;
    return request;
}

SurfaceEvaluations surface_evaluations(const StudyConfig& config) {
    const StudySurfaceSettings& settings = config.surface;
    SurfaceEvaluations evaluations;
    evaluations.splits = settings.evaluations;
    evaluations.gradient_variance_batches = settings.gradient_variance ? settings.gv_batches : 0;
    evaluations.gradient_variance_batch_size = settings.gv_batch_size;
    evaluations.gradient_variance_split = settings.gv_split;
    evaluations.gradient_variance_bn_mode = settings.gv_bn;
    return evaluations;
}

SurfaceRequest surface_request(const StudyConfig& config) {
    SurfaceRequest request;
    request.basin_level = config.surface.basin_level;
    request.x = GridAxis::parse(config.surface.x, "x");
    if (!config.surface.y.empty()) request.y = GridAxis::parse(config.surface.y, "y");
    request.validate();
    return request;
}

// How the study's float32 work runs on its device: "ieee", "tf32", or
// "unused" on the CPU (util/device.hpp).
std::string study_cuda_float32(const StudyConfig& config) {
    return parse_device(config.device).is_cuda() ? config.cuda_float32 : "unused";
}

// The settings each kind of output is made with, as its file records them
// (the "settings" attribute): a rerun with other settings must not reuse it.
nlohmann::ordered_json analysis_settings(const StudyConfig& config, const std::string& kind, int64_t pair = 0) {
    nlohmann::ordered_json settings = {{"analysis_seed", config.analysis_seed}};
    // TensorFloat-32 changes the numbers; IEEE float32 on CUDA is the CPU's in
    // another summation order, and files from before the key stay reusable.
    if (study_cuda_float32(config) == "tf32") settings["cuda_float32"] = "tf32";
    if (pair > 0) settings["direction_pair"] = pair;
    if (kind == "hessian") {
        const StudyHessianSettings& h = config.hessian;
        settings.update({{"samples", h.samples}, {"batch_size", h.batch_size}, {"top_k", h.top_k},
                         {"tol", h.tol}, {"ncv", h.ncv}, {"trace", h.trace},
                         {"trace_max_probes", h.trace_max_probes}, {"trace_rtol", h.trace_rtol},
                         {"density", h.density}, {"slq_steps", h.slq_steps}, {"slq_runs", h.slq_runs}});
        // Like cuda_float32: named only when not the default, so files from before the key stay reusable.
        if (h.bn != BatchNormMode::eval) settings["bn"] = name_of(h.bn);
        if (h.solver != EigenSolver::lanczos) settings["solver"] = name_of(h.solver);
        if (h.parts) settings["by_part"] = name_of(*h.parts);
    } else if (kind == "gradvar") {
        settings.update({{"batches", config.gradient_variance.batches},
                         {"batch_size", config.gradient_variance.batch_size}});
        if (config.gradient_variance.bn != BatchNormMode::eval) settings["bn"] = name_of(config.gradient_variance.bn);
        if (config.gradient_variance.parts) settings["by_part"] = name_of(*config.gradient_variance.parts);
    } else if (kind == "proxies") {
        nlohmann::json proxies = nlohmann::json::array();
        for (const Proxy proxy : config.proxies.proxies) proxies.push_back(name_of(proxy));
        settings.update({{"proxies", proxies}, {"samples", config.proxies.samples},
                         {"zico_batches", config.proxies.zico_batches}});
        // Named only when not the default, so files from before the key stay reusable.
        if (config.proxies.dtype != Precision::float32) settings["dtype"] = name_of(config.proxies.dtype);
    } else {
        const StudySurfaceSettings& s = config.surface;
        nlohmann::json evaluations = nlohmann::json::array();
        for (const Split split : s.evaluations) evaluations.push_back(name_of(split));
        settings.update({{"x", s.x}, {"y", s.y}, {"eval", evaluations}, {"samples", s.samples},
                         {"batch_size", s.batch_size}, {"gradient_variance", s.gradient_variance}});
        if (s.gradient_variance)
            settings.update({{"gv_batches", s.gv_batches}, {"gv_batch_size", s.gv_batch_size},
                             {"gv_split", name_of(s.gv_split)}, {"gv_bn", name_of(s.gv_bn)}});
    }
    return settings;
}

ProxyOptions proxy_options(const StudyConfig& config) {
    ProxyOptions options;
    options.proxies = config.proxies.proxies;
    options.zico_batches = config.proxies.zico_batches;
    options.device = parse_device(config.device);
    options.dtype = config.proxies.dtype;
    return options;
}

// The replicate's proxies file: its initial network's, so epoch 0.
std::filesystem::path proxies_path(const std::filesystem::path& cell_dir) {
    return cell_dir / analysis_name("proxies", 0);
}

// A replicate's analysis file, read back for the tables: refused, naming the
// file and the way out, unless it is a `format` file this build reads.
void require_replicate_file(const Hdf5File& file, const char* format, int64_t newest_version) {
    try {
        require_format(file, format, newest_version);
    } catch (const Hdf5Error& error) {
        throw Error(fmt::format("{}; this study wrote it as its replicate's {}: delete it and run the study again, "
                                "which makes it anew",
                                error.what(), format));
    }
}

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
void require_same_training(const StudyConfig& config, const NamedGenotype& cell, const std::filesystem::path& train_dir) {
    std::filesystem::path checkpoint = train_dir / "latest.h5";
    if (!std::filesystem::exists(checkpoint)) checkpoint = train_dir / epoch_checkpoint_name(config.training.epochs);
    if (!std::filesystem::exists(checkpoint)) return;
    const TrainingState trained = read_checkpoint(checkpoint);
    auto difference = training_difference(trained, cell.genotype, config.network, config.training, "the config");
    const std::string policy = study_cuda_float32(config);
    if (!difference && cuda_float32_differs(trained.cuda_float32, policy))
        difference = fmt::format("cuda_float32 was {}, the config now says {}", trained.cuda_float32, policy);
    if (difference)
        throw Error(fmt::format("{} was trained with other settings ({}); delete {} to train it again with these, or "
                                "run the study into another directory",
                                checkpoint.string(), *difference, train_dir.string()));
}

void train_cell(const StudyConfig& config, const NamedGenotype& cell, const std::filesystem::path& cell_dir,
                const std::string& command, ProgressSink* progress) {
    const auto train_dir = cell_dir / "train";
    require_same_training(config, cell, train_dir);
    if (std::filesystem::exists(train_dir / epoch_checkpoint_name(config.training.epochs))) return;
    TrainingRequest request;
    request.cell = cell;
    request.network = config.network;
    request.training = config.training;
    request.out_dir = train_dir;
    request.device = parse_device(config.device);
    request.command = command;
    request.progress = progress;
    if (std::filesystem::exists(train_dir / "latest.h5")) request.resume = train_dir / "latest.h5";
    train_network(request);
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
    std::filesystem::path cell_dir;
    int64_t epoch;
    std::string command;
    ProgressSink* progress;

    std::filesystem::path output(const std::string& kind) const { return cell_dir / analysis_name(kind, epoch); }
    ObjectiveSource source() const {
        return {(cell_dir / "train" / epoch_checkpoint_name(epoch)).string(), "", "", ""};
    }
    OutputRecord record(const std::string& kind, double seconds = NAN) const {
        OutputRecord made{command, analysis_settings(config, kind).dump()};
        made.seconds = seconds;
        return made;
    }
    OutputRecord surface_record(int64_t pair) const {
        return {command, analysis_settings(config, "surface", pair).dump()};
    }
    // True when the output must be computed; an existing one must have these settings.
    bool needed(const std::filesystem::path& file, const std::string& kind, int64_t pair = 0) const {
        if (!std::filesystem::exists(file)) return true;
        require_same_settings(file, analysis_settings(config, kind, pair));
        return false;
    }

    void hessian() const {
        if (!config.hessian.enabled || !needed(output("hessian"), "hessian")) return;
        const auto start = std::chrono::steady_clock::now();
        Objective objective =
            Objective::load(source(), training_samples(config, config.hessian.samples),
                            objective_options(config, config.hessian.batch_size, config.hessian.bn));
        const HessianReport report = analyse_hessian(objective, hessian_request(config), progress);
        write_hessian_file(output("hessian"), objective, report, record("hessian", seconds_since(start)));
    }

    void gradient_variance() const {
        const StudyGradientVarianceSettings& settings = config.gradient_variance;
        if (!settings.enabled || !needed(output("gradvar"), "gradvar")) return;
        const auto start = std::chrono::steady_clock::now();
        Objective objective = Objective::load(source(), training_samples(config, settings.batches * settings.batch_size),
                                              objective_options(config, settings.batch_size, settings.bn));
        const GradientVariance result = cellscape::gradient_variance(objective, progress);
        write_gradient_variance_file(output("gradvar"), {source().checkpoint}, {result}, objective.provenance(),
                                     record("gradvar", seconds_since(start)), settings.parts);
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
                loaded = load_surface_objectives(source(), training_samples(config, config.surface.samples),
                                                 objective_options(config, config.surface.batch_size),
                                                 surface_evaluations(config));
            SurfaceRequest request = surface_request(config);
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
void replicate_proxies(const StudyConfig& config, const std::filesystem::path& cell_dir, const std::string& command,
                       ProgressSink* progress) {
    if (!config.proxies.enabled) return;
    const auto out = proxies_path(cell_dir);
    // Unlike the other analyses, a proxies file made with other settings
    // (e.g. before the default list of proxies grew) is computed again: it
    // costs seconds and is the seed's, whatever was trained.
    if (std::filesystem::exists(out)) {
        auto difference = stored_settings_difference(out, analysis_settings(config, "proxies"));
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
    LoadedModel loaded = load_model_and_samples(source, training_samples(config, config.proxies.samples));
    const ProxyOptions options = proxy_options(config);
    const ProxyScores scores = zero_cost_proxies(*loaded.model, loaded.samples, options, progress);
    OutputRecord record{command, analysis_settings(config, "proxies").dump()};
    record.seconds = seconds_since(start);
    write_proxies_file(out, scores, proxies_provenance(loaded.provenance, scores, options), record);
}

void analyse_checkpoint(const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch,
                        const std::string& command, const StudyPart& part, ProgressSink* progress) {
    const CheckpointAnalysis analysis{config, cell_dir, epoch, command, progress};
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

// A row's cell columns, from the genotype alone (also for failed replicates).
StudyRow replicate_row(const StudyReplicate& replicate) {
    const NamedGenotype& cell = replicate.cell;
    StudyRow row;
    row.cell = cell.name;
    row.genotype = format_genotype(cell.genotype);
    row.directory = replicate.directory;
    row.population = replicate.population;
    row.seed = static_cast<int64_t>(replicate.seed);
    const CellMetrics normal = cell_metrics(cell.genotype.normal, CellType::normal);
    const CellMetrics reduce = cell_metrics(cell.genotype.reduce, CellType::reduce);
    row.normal_width = normal.width;
    row.normal_depth = normal.depth;
    row.reduce_width = reduce.width;
    row.reduce_depth = reduce.depth;
    row.status = "ok";
    return row;
}

// The basin metrics of a replicate: means over its direction pairs, each
// recomputed from the surface's loss grid at the config's basin_level (so a
// changed level needs no new surfaces). The loss is the test split's when
// the surface has it, else the first evaluated split's.
void fill_basin(StudyRow& row, const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch) {
    if (!config.surface.enabled) return;
    double fraction = 0, radius = 0;
    for (int64_t pair = 0; pair < config.surface.direction_pairs; ++pair) {
        const auto path = cell_dir / surface_name(epoch, pair);
        if (!std::filesystem::exists(path)) return;  // left to shard tasks: no basin yet
        const Hdf5File file(path, Hdf5File::Mode::read);
        require_replicate_file(file, surface_format, surface_format_version);
        const SurfaceBasin basin = read_surface_basin(file, config.surface.basin_level);
        fraction += basin.metrics.fraction;
        radius += basin.metrics.radius;
    }
    row.basin_fraction = fraction / static_cast<double>(config.surface.direction_pairs);
    row.basin_radius = radius / static_cast<double>(config.surface.direction_pairs);
}

// The proxies the replicate's proxies file holds (none without the file).
void fill_proxies(StudyRow& row, const StudyConfig& config, const std::filesystem::path& cell_dir) {
    const auto path = proxies_path(cell_dir);
    // A file left from a run with proxies is not this study's when it has none.
    if (!config.proxies.enabled || !std::filesystem::exists(path)) return;
    const Hdf5File file(path, Hdf5File::Mode::read);
    require_replicate_file(file, proxies_format, proxies_format_version);
    for (const StudyMetric& metric : study_metrics()) {
        if (std::string_view(metric.family) != proxies_family) continue;
        const Proxy proxy = parse_name<Proxy>(metric.name, "proxies");
        if (file.has_attribute("/", refusal_attribute(proxy))) continue;  // no value, and the file says why
        if (!file.has_attribute("/", metric.name)) continue;              // not asked for
        const double value = file.double_attribute("/", metric.name);
        // Format 1 (before refusals) wrote what it computed, NaN included; 2 and later never do.
        if (!std::isfinite(value) && file.int_attribute("/", "format_version") >= 2)
            throw Error(fmt::format("{}: the proxy {} is {} without a reason recorded, which no cellscape writes: the "
                                    "file is damaged; delete it and run the study again (it is made anew in seconds)",
                                    path.string(), metric.name, value));
        row.*metric.field = value;
    }
}

// The seconds a replicate's analyses at `epoch` took, as their files record
// (compute_seconds); NaN when a file predates the record.
double analysis_seconds(const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch) {
    std::vector<std::filesystem::path> files{cell_dir / analysis_name("hessian", epoch),
                                             cell_dir / analysis_name("gradvar", epoch)};
    for (int64_t pair = 0; pair < config.surface.direction_pairs; ++pair)
        files.push_back(cell_dir / surface_name(epoch, pair));
    double seconds = 0;
    for (const auto& path : files) {
        if (!std::filesystem::exists(path)) continue;
        const Hdf5File file(path, Hdf5File::Mode::read);
        if (!file.has_attribute("/", "compute_seconds")) return NAN;
        seconds += file.double_attribute("/", "compute_seconds");
    }
    return seconds;
}

// The parts tables of a replicate's Hessian and gradient variance files at
// `epoch` (docs/hdf5-schema.md), joined by part name, after `out`'s rows.
// A parts table whose columns are not one value per part name is damaged:
// refused naming the file and the column, not read past its end.
void require_part_columns(const std::filesystem::path& path, std::size_t parts,
                          std::initializer_list<std::pair<const char*, std::size_t>> columns) {
    for (const auto& [column, size] : columns)
        if (size != parts)
            throw Error(fmt::format("{}: its parts table has {} names but {} values in parts/{}; the file is damaged: "
                                    "delete it and run the study again, which makes it anew",
                                    path.string(), parts, size, column));
}

void append_parts(std::vector<StudyPartRow>& out, const StudyConfig& config, const StudyRow& row,
                  const std::filesystem::path& cell_dir, int64_t epoch) {
    const std::size_t first = out.size();
    auto part_named = [&](const std::string& name) -> StudyPartRow& {
        for (std::size_t i = first; i < out.size(); ++i)
            if (out[i].part == name) return out[i];
        StudyPartRow part;
        part.cell = row.cell;
        part.directory = row.directory;
        part.population = row.population;
        part.seed = row.seed;
        part.epoch = epoch;
        part.part = name;
        out.push_back(part);
        return out.back();
    };
    // Only what this config asks for: a file left from another config's by_part is not read.
    const auto hessian_path = cell_dir / analysis_name("hessian", epoch);
    if (config.hessian.enabled && config.hessian.parts && std::filesystem::exists(hessian_path)) {
        const Hdf5File file(hessian_path, Hdf5File::Mode::read);
        require_replicate_file(file, hessian_format, hessian_format_version);
        if (file.contains("parts/name")) {
            const auto names = file.read_strings("parts/name");
            const auto parameters = file.read_doubles("parts/parameters");
            const bool top = file.contains("parts/top_eigenvalue"), trace = file.contains("parts/trace");
            const auto top_values = top ? file.read_doubles("parts/top_eigenvalue") : std::vector<double>{};
            const auto trace_values = trace ? file.read_doubles("parts/trace") : std::vector<double>{};
            const auto stderr_values = trace ? file.read_doubles("parts/trace_stderr") : std::vector<double>{};
            require_part_columns(hessian_path, names.size(),
                                 {{"parameters", parameters.size()},
                                  {"top_eigenvalue", top ? top_values.size() : names.size()},
                                  {"trace", trace ? trace_values.size() : names.size()},
                                  {"trace_stderr", trace ? stderr_values.size() : names.size()}});
            for (std::size_t i = 0; i < names.size(); ++i) {
                StudyPartRow& part = part_named(names[i]);
                part.parameters = static_cast<int64_t>(parameters.at(i));
                if (top) part.top_eigenvalue = top_values.at(i);
                if (trace) {
                    part.trace = trace_values.at(i);
                    part.trace_stderr = stderr_values.at(i);
                }
            }
        }
    }
    const auto gradvar_path = cell_dir / analysis_name("gradvar", epoch);
    if (config.gradient_variance.enabled && config.gradient_variance.parts && std::filesystem::exists(gradvar_path)) {
        const Hdf5File file(gradvar_path, Hdf5File::Mode::read);
        require_replicate_file(file, gradient_variance_format, gradient_variance_format_version);
        if (file.contains("parts/name")) {  // models x parts: the study's one model is the first row
            const auto names = file.read_strings("parts/name");
            const auto variance = file.read_doubles("parts/variance"), norm = file.read_doubles("parts/gradient_norm");
            require_part_columns(gradvar_path, names.size(),
                                 {{"variance", variance.size()}, {"gradient_norm", norm.size()}});
            for (std::size_t i = 0; i < names.size(); ++i) {
                StudyPartRow& part = part_named(names[i]);
                part.gradient_variance = variance.at(i);
                part.gradient_norm = norm.at(i);
            }
        }
    }
}

// The measured columns, read back from the files (so skipped work counts too).
void fill_row(StudyRow& row, const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch) {
    const TrainingState state = read_checkpoint(cell_dir / "train" / epoch_checkpoint_name(epoch));
    row.epoch = epoch;
    int64_t parameters = 0;
    for (const auto& [name, tensor] : state.parameters)
        if (name.rfind("auxiliary_head.", 0) != 0) parameters += tensor.numel();
    row.parameters = parameters;
    const TrainingHistory& history = state.history;
    const auto last = static_cast<std::size_t>(epoch - 1);
    row.train_loss = history.epoch_train_loss.at(last);
    row.train_accuracy = history.epoch_train_accuracy.at(last);
    row.test_loss = history.epoch_test_loss.at(last);
    row.test_accuracy = history.epoch_test_accuracy.at(last);
    const std::size_t steps_per_epoch =
        state.epoch > 0 ? history.step_loss.size() / static_cast<std::size_t>(state.epoch) : 0;
    const std::vector<double> until_epoch(history.step_loss.begin(),
                                          history.step_loss.begin() +
                                              static_cast<std::ptrdiff_t>(steps_per_epoch * (last + 1)));
    const ConvergenceTime convergence =
        convergence_time(until_epoch, static_cast<int64_t>(steps_per_epoch), config.loss_threshold);
    row.epochs_to_threshold = convergence.epochs;
    row.censored = convergence.censored ? 1 : 0;
    if (last > 0) {
        const std::vector<double>& losses = history.epoch_train_loss;
        const double whole = losses.at(0) - losses.at(last);
        row.last_epoch_share = whole != 0 ? (losses.at(last - 1) - losses.at(last)) / whole : NAN;
    }
    row.train_seconds = 0;
    for (std::size_t e = 0; e <= last && e < history.epoch_seconds.size(); ++e)
        row.train_seconds += history.epoch_seconds[e];
    row.analysis_seconds = analysis_seconds(config, cell_dir, epoch);
    const auto hessian_path = cell_dir / analysis_name("hessian", epoch);
    if (std::filesystem::exists(hessian_path)) {
        const Hdf5File file(hessian_path, Hdf5File::Mode::read);
        require_replicate_file(file, hessian_format, hessian_format_version);
        if (file.contains("eigenvalues")) row.top_eigenvalue = file.read("eigenvalues")[0].item<double>();
        if (file.has_attribute("/", "trace")) row.trace = file.double_attribute("/", "trace");
    }
    const auto gradvar_path = cell_dir / analysis_name("gradvar", epoch);
    if (std::filesystem::exists(gradvar_path)) {
        const Hdf5File file(gradvar_path, Hdf5File::Mode::read);
        require_replicate_file(file, gradient_variance_format, gradient_variance_format_version);
        row.gradient_variance = file.read("total_variance")[0].item<double>();
        row.noise_scale = file.read("noise_scale")[0].item<double>();
    }
    fill_basin(row, config, cell_dir, epoch);
    fill_proxies(row, config, cell_dir);
}

}  // namespace

namespace {


void write_summary(const std::filesystem::path& path, const StudyConfig& config, const StudyResult& result,
                   const std::string& command) {
    write_hdf5_atomically(path, [&](Hdf5File& file) {
        write_standard_attributes(file, study_summary_format, study_summary_format_version, command);
        file.set_attribute("/", "name", config.name);
        file.set_attribute("/", "dataset", config.training.dataset);
        file.set_attribute("/", "loss_threshold", config.loss_threshold);
        file.set_attribute("/", "basin_level", config.surface.basin_level);
        file.set_attribute("/", "replicated", static_cast<int64_t>(config.replicated()));
        const std::vector<uint64_t> study = study_seeds(config);
        std::vector<int64_t> seeds(study.begin(), study.end());
        file.write("seeds", torch::tensor(seeds, torch::kInt64));
        write_column_table(file, "replicates", replicates_table(result.rows));
        write_column_table(file, "cells", cells_table(result.cells));
        write_column_table(file, "associations", associations_table(result.associations));
        write_column_table(file, "metric_associations", metric_associations_table(result.metric_associations));
        write_column_table(file, "mediation", mediation_table(result.mediation));
        if (!result.parts.empty()) write_column_table(file, "parts", parts_table(result.parts));
        const StudyStatistics& statistics = config.statistics;
        file.set_attribute("/", "alpha", statistics.alpha);
        file.set_attribute("/", "power", statistics.power);
        file.set_attribute("/", "equivalence_bound", statistics.equivalence_bound);
        file.set_attribute("/", "bootstrap_samples", statistics.bootstrap_samples);
        file.set_attribute("/", "permutations", statistics.permutations);
        file.set_attribute("/", "power_simulations", statistics.power_simulations);
    });
}

// The first output a finished replicate has and this one lacks (empty if none).
std::filesystem::path missing_outputs(const StudyConfig& config, const std::filesystem::path& cell_dir) {
    std::vector<std::filesystem::path> needed{cell_dir / "train" / epoch_checkpoint_name(config.training.epochs)};
    for (int64_t epoch : config.analysis_epochs) {
        needed.push_back(cell_dir / "train" / epoch_checkpoint_name(epoch));
        if (config.hessian.enabled) needed.push_back(cell_dir / analysis_name("hessian", epoch));
        if (config.gradient_variance.enabled) needed.push_back(cell_dir / analysis_name("gradvar", epoch));
        if (config.surface.enabled)
            for (int64_t pair = 0; pair < config.surface.direction_pairs; ++pair)
                needed.push_back(cell_dir / surface_name(epoch, pair));
    }
    if (config.proxies.enabled) needed.push_back(proxies_path(cell_dir));
    for (const auto& path : needed)
        if (!std::filesystem::exists(path)) return path;
    return {};
}


}  // namespace

std::string cell_directory_name(const std::string& cell_name) {
    std::string name = cell_name;
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') c = '-';
    return name.empty() || name.front() == '.' ? "cell" + name : name;
}

bool study_replicate_finished(const StudyConfig& config, const std::filesystem::path& out_dir,
                              const StudyReplicate& replicate) {
    return missing_outputs(config, out_dir / replicate.directory).empty();
}

namespace {

// The cells of a config with their populations, in order.
std::vector<std::pair<NamedGenotype, std::string>> cells_with_populations(const StudyConfig& config) {
    std::vector<std::pair<NamedGenotype, std::string>> cells;
    for (const auto& spec : config.cells) {
        const std::string population = cell_population(spec);
        for (auto& cell : resolve_cells(spec)) cells.emplace_back(std::move(cell), population);
    }
    for (std::size_t i = 0; i < cells.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (cell_directory_name(cells[i].first.name) == cell_directory_name(cells[j].first.name))
                throw Error(fmt::format("two cells of the study are both named {}: give each a distinct name "
                                        "(NAME = Genotype(...))",
                                        cells[i].first.name));
    return cells;
}

// A spec that relied on the variants' former default (both cells rewired)
// must not silently give other cells where its old results lie.
void refuse_former_default_cells(const StudyConfig& config, const std::filesystem::path& out_dir) {
    for (const auto& spec : config.cells) {
        const auto former = former_default_spec(spec);
        if (!former) continue;
        for (const NamedGenotype& cell : resolve_cells(*former)) {
            const auto directory = out_dir / cell_directory_name(cell.name);
            if (!std::filesystem::is_directory(directory)) continue;
            throw Error(fmt::format(
                "{}: {} holds cells that '{}' gave before cellscape 0.2, when variants rewired both the normal and "
                "the reduction cell; it now rewires the normal cell only (cells=normal). Write '{}' in cells = [...] "
                "to keep those results, or 'cells=normal' in the spec to train the new cells beside them",
                config.source.string(), directory.string(), spec, *former));
        }
    }
}

}  // namespace

std::vector<NamedGenotype> study_cells(const StudyConfig& config) {
    std::vector<NamedGenotype> cells;
    for (auto& [cell, population] : cells_with_populations(config)) cells.push_back(std::move(cell));
    return cells;
}

std::vector<uint64_t> study_seeds(const StudyConfig& config) {
    return config.seeds.empty() ? std::vector<uint64_t>{config.training.seed} : config.seeds;
}

std::vector<StudyReplicate> study_replicates(const StudyConfig& config) {
    std::vector<StudyReplicate> replicates;
    const auto cells = cells_with_populations(config);
    for (std::size_t c = 0; c < cells.size(); ++c)
        for (const uint64_t seed : study_seeds(config)) {
            std::string directory = cell_directory_name(cells[c].first.name);
            if (config.replicated()) directory += fmt::format("/seed-{}", seed);
            replicates.push_back({cells[c].first, c, seed, directory, cells[c].second});
        }
    return replicates;
}

std::string describe_failure(const std::exception_ptr& failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const Interrupted&) {
        throw;
    } catch (const Error& error) {
        return error.what();
    } catch (const c10::Error& error) {
        return fmt::format("LibTorch reported: {}", error.what_without_backtrace());
    } catch (const std::bad_alloc&) {
        return "out of memory (use a smaller network, fewer samples or smaller batches)";
    } catch (const std::exception& error) {
        return fmt::format("unexpected error: {}", error.what());
    }
}

namespace {

// The cell's diagram in its directory: cell.dot, the DOT source, and
// cell.png drawn from it by Graphviz. A machine without Graphviz (a cluster
// node, a GPU image) still runs the study: it says for the cell how to draw
// the diagram later, and the plots leave that cell's panel empty.
void draw_cell_diagram(const NamedGenotype& cell, const std::filesystem::path& directory, ProgressSink* progress) {
    const auto source = directory / "cell.dot";
    const auto diagram = directory / "cell.png";
    const std::string dot = genotype_dot(cell);
    const bool new_source = !std::filesystem::exists(source);
    if (new_source) {
        // Replicates of one cell may run side by side, on several nodes: each
        // writes its own partial file, and the last rename leaves the same text.
        const auto partial = private_partial_path(source);
        std::ofstream out(partial);
        out << dot;
        out.close();
        if (!out)
            throw Error(fmt::format("cannot write {}: is the disk full or the directory read-only?", partial.string()));
        std::filesystem::rename(partial, source);
    }
    if (std::filesystem::exists(diagram)) return;
    try {
        render_dot(dot, diagram);
    } catch (const GraphvizMissing& missing) {
        if (new_source && progress)
            progress->note(fmt::format("{}: {}; its diagram is left as DOT source: dot -Tpng {} -o {}", cell.name,
                                       missing.what(), source.string(), diagram.string()));
    }
}

// One replicate: train, analyse, and its rows from the files.
void run_replicate(const StudyConfig& study_config, const StudyReplicate& replicate, const std::filesystem::path& out_dir,
                   const std::string& command, const StudyPart& part, ProgressSink* progress, StudyResult& result) {
    const StudyConfig config = replicate_config(study_config, replicate.seed);
    const NamedGenotype& cell = replicate.cell;
    const auto cell_dir = out_dir / replicate.directory;
    std::filesystem::create_directories(cell_dir);
    draw_cell_diagram(cell, out_dir / cell_directory_name(cell.name), progress);
    const std::string name = fmt::format("{} (seed {})", cell.name, replicate.seed);
    stop_if_interrupted("training " + name);
    if (!part.collect_only && !part.surface_shard) {
        train_cell(config, cell, cell_dir, command, progress);
        stop_if_interrupted("the proxies of " + name);
        replicate_proxies(config, cell_dir, command, progress);
    }
    for (int64_t epoch : config.analysis_epochs) {
        stop_if_interrupted(fmt::format("analysing {} at epoch {}", name, epoch));
        if (!part.collect_only) analyse_checkpoint(config, cell_dir, epoch, command, part, progress);
        StudyRow row = replicate_row(replicate);
        fill_row(row, config, cell_dir, epoch);
        append_parts(result.parts, config, row, cell_dir, epoch);
        result.rows.push_back(row);
    }
}

}  // namespace

namespace {

// Every analysis's samples, defaults included, against the splits the
// replicates train and are evaluated on ([data] train_size and test_size
// of the dataset), so that a study does not train each replicate to fail
// its analyses. Fashion-MNIST's and CIFAR's sizes are known without their
// files (a study submitted from a login node that lacks them is checked
// too); an h5: file is read.
void check_analyses_fit_data(const StudyConfig& config) {
    const TrainingConfig& data = config.training;
    const auto [whole_train, whole_test] = split_sizes(data.dataset);
    for (const auto& [key, asked, whole] : {std::tuple{"train_size", data.train_size, whole_train},
                                            std::tuple{"test_size", data.test_size, whole_test}})
        if (asked > whole)
            throw study_config_error(config.source, "data", key,
                                     fmt::format("is {} but {} has only {} samples in that split", asked,
                                                 data.dataset, whole));
    const int64_t train = data.train_size > 0 ? data.train_size : whole_train;
    const int64_t test = data.test_size > 0 ? data.test_size : whole_test;
    auto split_size = [&](Split split) { return split == Split::train ? train : test; };
    auto split_key = [](Split split) { return split == Split::train ? "train_size" : "test_size"; };
    // `count` images (0: the whole split) of `split`, as `what` = `count` in `section`.
    auto fits = [&](const char* section, const std::string& what, double count, Split split, const char* lower) {
        if (split_size(split) == 0)
            throw study_config_error(config.source, section, what,
                                     fmt::format("{} has no {} split: evaluate another split", data.dataset,
                                                 name_of(split)));
        if (count <= static_cast<double>(split_size(split))) return;
        throw study_config_error(
            config.source, section, what,
            fmt::format("{:.0f} images > [data] {} {}: the {} split the replicates use has only {}; lower {} or "
                        "raise [data] {}",
                        count, split_key(split), split_size(split), name_of(split), split_size(split), lower,
                        split_key(split)));
    };
    if (config.hessian.enabled)
        fits("analysis.hessian", fmt::format("samples = {}", config.hessian.samples),
             static_cast<double>(config.hessian.samples),
             Split::train, "samples");
    const auto& gv = config.gradient_variance;
    if (gv.enabled)
        fits("analysis.gradient_variance", fmt::format("batches x batch_size = {} x {}", gv.batches, gv.batch_size),
             static_cast<double>(gv.batches) * static_cast<double>(gv.batch_size), Split::train,
             "batches or batch_size");
    const auto& surface = config.surface;
    if (surface.enabled) {
        for (const Split split : surface.evaluations)
            fits("analysis.surface", fmt::format("samples = {} (eval = \"{}\")", surface.samples, name_of(split)),
                 static_cast<double>(surface.samples), split, "samples");
        if (surface.gradient_variance)
            fits("analysis.surface",
                 fmt::format("gv_batches x gv_batch_size = {} x {}", surface.gv_batches, surface.gv_batch_size),
                 static_cast<double>(surface.gv_batches) * static_cast<double>(surface.gv_batch_size), surface.gv_split,
                 "gv_batches or gv_batch_size");
    }
    if (config.proxies.enabled)
        fits("analysis.proxies", fmt::format("samples = {}", config.proxies.samples),
             static_cast<double>(config.proxies.samples),
             Split::train, "samples");
}

}  // namespace

void validate_study(const StudyConfig& config) {
    // The library's setting names where the config's keys differ.
    static const std::map<std::string, std::string> keys = {
        {"evaluations", "eval"},
        {"gradient_variance_batches", "gv_batches"},
        {"gradient_variance_batch_size", "gv_batch_size"},
        {"gradient_variance_split", "gv_split"},
    };
    auto where = [&](const std::string& section, const std::function<void()>& check) {
        try {
            check();
        } catch (const SettingError& error) {
            const auto key = keys.find(error.setting());
            throw study_config_error(config.source, section, key == keys.end() ? error.setting() : key->second,
                                     error.problem());
        }
    };
    where("", [&] { (void)parse_device(config.device); });
    where("", [&] { (void)parse_name<CudaFloat32>(config.cuda_float32, "cuda_float32"); });
    const double threshold = config.loss_threshold;
    if (!(threshold > 0) || !std::isfinite(threshold))
        throw study_config_error(config.source, "training", "loss_threshold",
                                 fmt::format("must be a positive number (got {})", threshold));
    if (config.hessian.enabled)
        where("analysis.hessian", [&] {
            training_samples(config, config.hessian.samples).validate();
            objective_options(config, config.hessian.batch_size).validate();
            const HessianRequest request = hessian_request(config);
            if (request.top.count < 1) throw SettingError("top_k", "must be at least 1 (or disable the analysis)");
            if (request.trace && config.hessian.trace_max_probes < 2)
                throw SettingError("trace_max_probes", fmt::format("must be at least 2 (got {})",
                                                                   config.hessian.trace_max_probes));
            request.validate();
        });
    if (config.gradient_variance.enabled)
        where("analysis.gradient_variance", [&] {
            const auto& settings = config.gradient_variance;
            if (settings.batches < 2)
                throw SettingError("batches", fmt::format("must be at least 2 for a variance (got {})", settings.batches));
            objective_options(config, settings.batch_size).validate();
        });
    if (config.surface.enabled)
        where("analysis.surface", [&] {
            training_samples(config, config.surface.samples).validate();
            objective_options(config, config.surface.batch_size).validate();
            (void)surface_request(config);
            SurfaceEvaluations evaluations = surface_evaluations(config);
            if (config.surface.gradient_variance && config.surface.gv_batches < 2)
                throw SettingError("gv_batches", fmt::format("must be at least 2 for a variance (got {})",
                                                             config.surface.gv_batches));
            evaluations.validate();
        });
    if (config.proxies.enabled)
        where("analysis.proxies", [&] {
            if (config.proxies.samples < 1)
                throw SettingError("samples", fmt::format("must be at least 1, the images of the proxies' batch "
                                                          "(got {}); 64 is the default",
                                                          config.proxies.samples));
            training_samples(config, config.proxies.samples).validate();
            proxy_options(config).validate(config.proxies.samples);
        });
    (void)study_cells(config);
    check_analyses_fit_data(config);
}

StudyResult run_study(const StudyConfig& config, const std::filesystem::path& out_dir, const std::string& command,
                      const StudyPart& part, ProgressSink* progress) {
    validate_study(config);
    const std::vector<StudyReplicate> replicates = study_replicates(config);
    if (part.surface_shard && (!part.only_replicate || *part.surface_shard < 0 ||
                               *part.surface_shard >= config.slurm_surface_shards))
        throw Error(fmt::format("a surface shard belongs to one replicate and is between 0 and {} "
                                "(slurm.surface_shards - 1)",
                                config.slurm_surface_shards - 1));
    if (part.only_replicate && *part.only_replicate >= replicates.size())
        throw Error(fmt::format("replicate index {} is out of range: the study has {} (cell, seed) pairs (0 to {})",
                                *part.only_replicate, replicates.size(), replicates.size() - 1));
    refuse_former_default_cells(config, out_dir);
    prepare_output_directory(out_dir, "out_dir");
    StudyResult result;
    const ProgressTask task(progress, "study " + config.name, static_cast<int64_t>(replicates.size()), "replicates");
    task.update(0);  // the study's clock starts here, not at its first finished replicate
    for (std::size_t i = 0; i < replicates.size(); ++i) {
        if (part.only_replicate && *part.only_replicate != i) continue;
        const StudyReplicate& replicate = replicates[i];
        const auto cell_dir = out_dir / replicate.directory;
        if (part.collect_only) {
            for (int64_t epoch : config.analysis_epochs) merge_finished_surface_shards(config, cell_dir, epoch, command);
            const auto missing = missing_outputs(config, cell_dir);
            if (!missing.empty()) {
                StudyRow row = replicate_row(replicate);
                row.status = fmt::format("not finished: {} is missing", missing.string());
                result.rows.push_back(row);
                ++result.failed_replicates;
                continue;
            }
        }
        task.note(fmt::format("replicate {}/{}: {} seed {}", i + 1, replicates.size(), replicate.cell.name, replicate.seed));
        const std::size_t rows_before = result.rows.size(), parts_before = result.parts.size();
        try {
            run_replicate(config, replicate, out_dir, command, part, progress, result);
        } catch (...) {
            // Interrupted goes on up (describe_failure rethrows it): the
            // summary is written only by a study that went through all its replicates.
            const std::string failure = describe_failure(std::current_exception());
            result.rows.resize(rows_before);
            result.parts.resize(parts_before);
            StudyRow row = replicate_row(replicate);
            row.status = fmt::format("failed: {}", failure);
            task.note(fmt::format("{} seed {} failed: {}; going on with the others", replicate.cell.name,
                                  replicate.seed, failure));
            result.rows.push_back(row);
            ++result.failed_replicates;
        }
        task.update(static_cast<int64_t>(i + 1));
    }
    if (!part.only_replicate) {
        StudyStatistics statistics = config.statistics;
        statistics.seed = config.analysis_seed;
        summarize_study(result, statistics);
        result.summary = out_dir / "summary.h5";
        write_summary(result.summary, config, result, command);
    }
    return result;
}

namespace {

// What a study writes and a plan or a figure relies on: one row per cell,
// seed and epoch of a population, seeds in range, durations not negative
// (NaN: not recorded). A table that breaks it was edited or damaged.
void check_replicates_table(const std::vector<StudyRow>& rows, const std::filesystem::path& summary) {
    auto damaged = [&](const std::string& problem) {
        return Error(fmt::format("{}: the replicates table {}, which no study writes: the file is damaged or was "
                                 "edited; summarize the study again from its replicates (collect it)",
                                 summary.string(), problem));
    };
    std::map<std::tuple<std::string, std::string, int64_t, int64_t>, std::size_t> seen;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const StudyRow& row = rows[i];
        if (row.seed < 0) throw damaged(fmt::format("gives row {} ({}) the seed {}", i, row.cell, row.seed));
        for (const auto& [name, seconds] : {std::pair{"train_seconds", row.train_seconds},
                                            std::pair{"analysis_seconds", row.analysis_seconds}})
            if (seconds < 0 || std::isinf(seconds))
                throw damaged(fmt::format("gives row {} ({} seed {}) {} = {}", i, row.cell, row.seed, name, seconds));
        const auto [found, inserted] = seen.emplace(std::tuple{row.population, row.cell, row.seed, row.epoch}, i);
        if (!inserted)
            throw damaged(fmt::format("lists {} seed {} at epoch {} twice (rows {} and {})", row.cell, row.seed,
                                      row.epoch, found->second, i));
    }
}

}  // namespace

std::vector<StudyRow> read_study_replicates(const std::filesystem::path& summary) {
    if (std::filesystem::is_directory(summary)) return read_study_replicates(summary / "summary.h5");
    if (!std::filesystem::is_regular_file(summary))
        throw Error(fmt::format("{} does not exist: name a finished study's directory or its summary.h5",
                                summary.string()));
    const Hdf5File file(summary, Hdf5File::Mode::read);
    try {
        require_format(file, study_summary_format, study_summary_format_version);
    } catch (const Hdf5Error& error) {
        throw Error(fmt::format("{}: name a finished study's directory or its summary.h5", error.what()));
    }
    const std::string group = "replicates/";
    const std::vector<std::string> cells = file.read_strings(group + "cell");
    std::vector<StudyRow> rows(cells.size());
    auto column_size = [&](const std::string& name, std::size_t size) {
        if (size != rows.size())
            throw Error(fmt::format("{}: the replicates table's column {} has {} entries where {} has {}; the file is "
                                    "damaged: summarize the study again from its replicates (collect it)",
                                    summary.string(), name, size, "cell", rows.size()));
    };
    auto strings = [&](const std::string& name, std::string StudyRow::*field, const char* missing) {
        const bool present = file.contains(group + name);
        const auto values = present ? file.read_strings(group + name) : std::vector<std::string>(rows.size(), missing);
        column_size(name, values.size());
        for (std::size_t i = 0; i < rows.size(); ++i) rows[i].*field = values[i];
    };
    auto numbers = [&](const std::string& name, auto field, bool required) {
        if (!file.contains(group + name)) {
            if (required)
                throw Error(fmt::format("{}: the replicates table has no column {}: not a study summary cellscape "
                                        "can read",
                                        summary.string(), name));
            return;
        }
        using Value = std::decay_t<decltype(rows.front().*field)>;
        // Integer columns as integers: a seed above 2^53 would not survive a double.
        constexpr bool integer = std::is_integral_v<Value>;
        const torch::Tensor values =
            file.read(group + name).to(integer ? torch::kInt64 : torch::kFloat64).contiguous();
        column_size(name, static_cast<std::size_t>(values.numel()));
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if constexpr (integer)
                rows[i].*field = static_cast<Value>(values.data_ptr<int64_t>()[i]);
            else
                rows[i].*field = static_cast<Value>(values.data_ptr<double>()[i]);
        }
    };
    strings("cell", &StudyRow::cell, "");
    strings("genotype", &StudyRow::genotype, "");
    strings("status", &StudyRow::status, "");
    strings("directory", &StudyRow::directory, "");
    strings("population", &StudyRow::population, "all");
    numbers("seed", &StudyRow::seed, true);
    numbers("normal_width", &StudyRow::normal_width, true);
    numbers("normal_depth", &StudyRow::normal_depth, true);
    numbers("reduce_width", &StudyRow::reduce_width, true);
    numbers("reduce_depth", &StudyRow::reduce_depth, true);
    numbers("parameters", &StudyRow::parameters, true);
    numbers("epoch", &StudyRow::epoch, true);
    for (const StudyMetric& metric : study_metrics())
        numbers(metric.name, metric.field, !metric.optional());
    numbers("censored", &StudyRow::censored, false);
    numbers("last_epoch_share", &StudyRow::last_epoch_share, false);
    numbers("train_seconds", &StudyRow::train_seconds, false);
    numbers("analysis_seconds", &StudyRow::analysis_seconds, false);
    check_replicates_table(rows, summary);
    return rows;
}

void summarize_study(StudyResult& result, const StudyStatistics& statistics) {
    result.cells = summarize_cells(result.rows);
    result.associations = associate_with_predictors(result.rows, statistics);
    result.metric_associations = associate_metric_pairs(result.rows, statistics);
    result.mediation = mediate_convergence(result.rows, statistics);
}

std::string format_study_result(const StudyResult& result, const StudyConfig& config) {
    if (!config.replicated()) return format_replicates_table(result.rows);
    std::string text = format_cells_table(result.cells);
    text += "\nAcross cells, per population: Spearman's rho of the cells' means with the normal cell's width, its 95% "
            "bootstrap interval (cells resampled), permutation p:\n";
    text += format_verdict_table(result.associations, config.statistics);
    if (const std::string convergence = format_convergence_associations(result.metric_associations);
        !convergence.empty())
        text += "\nEach metric against convergence speed (epochs_to_threshold), across cells:\n" + convergence;
    if (const std::string mediation = format_mediation_table(result.mediation); !mediation.empty())
        text += "\nWidth -> convergence through each metric (ranks; a: width->metric, b: metric->convergence with "
                "width fixed, proportion = a*b / total):\n" +
                mediation;
    return text;
}

}  // namespace cellscape
