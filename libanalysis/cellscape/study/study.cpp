#include "cellscape/study/study.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>

#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/analysis/hessian_report.hpp"
#include "cellscape/analysis/surface.hpp"
#include "cellscape/cells/cell_spec.hpp"
#include "cellscape/cells/diagram.hpp"
#include "cellscape/cells/metrics.hpp"
#include "cellscape/io/graphviz.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/progress.hpp"
#include "cellscape/util/settings_difference.hpp"

namespace cellscape {
namespace {

std::string analysis_name(const std::string& kind, int64_t epoch) {
    return fmt::format("{}-epoch-{:04d}.h5", kind, epoch);
}

ObjectiveOptions objective_options(const StudyConfig& config, int64_t samples, int64_t batch_size, Split split) {
    ObjectiveOptions options;
    options.samples = samples;
    options.batch_size = batch_size;
    options.split = split;
    options.seed = config.analysis_seed;
    options.device = parse_device(config.device);
    return options;
}

HessianRequest hessian_request(const StudyConfig& config) {
    const StudyHessianSettings& settings = config.hessian;
    HessianRequest request;
    request.top.count = settings.top_k;
    request.top.tolerance = settings.tolerance;
    request.top.krylov_dimension = settings.ncv;
    request.trace = settings.trace;
    request.trace_options.relative_tolerance = settings.trace_rtol;
    request.trace_options.max_probes = settings.trace_max_probes;
    request.trace_options.min_probes = std::min<int64_t>(10, settings.trace_max_probes);
    request.trace_options.seed = config.analysis_seed;
    request.density = settings.density;
    request.density_options.steps = settings.slq_steps;
    request.density_options.runs = settings.slq_runs;
    request.density_options.seed = config.analysis_seed;
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
    request.x = GridAxis::parse(config.surface.x, "x");
    if (!config.surface.y.empty()) request.y = GridAxis::parse(config.surface.y, "y");
    request.validate();
    return request;
}

// The settings each kind of output is made with, as its file records them
// (the "settings" attribute): a rerun with other settings must not reuse it.
nlohmann::ordered_json analysis_settings(const StudyConfig& config, const std::string& kind) {
    nlohmann::ordered_json settings = {{"analysis_seed", config.analysis_seed}};
    if (kind == "hessian") {
        const StudyHessianSettings& h = config.hessian;
        settings.update({{"samples", h.samples}, {"batch_size", h.batch_size}, {"top_k", h.top_k},
                         {"tol", h.tolerance}, {"ncv", h.ncv}, {"trace", h.trace},
                         {"trace_max_probes", h.trace_max_probes}, {"trace_rtol", h.trace_rtol},
                         {"density", h.density}, {"slq_steps", h.slq_steps}, {"slq_runs", h.slq_runs}});
    } else if (kind == "gradvar") {
        settings.update({{"batches", config.gradient_variance.batches},
                         {"batch_size", config.gradient_variance.batch_size}});
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

// An existing output made with other settings is refused, with the way out.
void require_same_settings(const std::filesystem::path& file, const nlohmann::ordered_json& wanted) {
    const Hdf5File existing(file, Hdf5File::Mode::read);
    const nlohmann::json stored = existing.has_attribute("/", "settings")
                                      ? nlohmann::json::parse(existing.string_attribute("/", "settings"), nullptr, false)
                                      : nlohmann::json::object();
    if (const auto difference = settings_difference(stored, wanted))
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
    const auto difference =
        training_difference(read_checkpoint(checkpoint), cell.genotype, config.network, config.training, "the config");
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

std::filesystem::path surface_shard_path(const std::filesystem::path& cell_dir, int64_t epoch, int64_t shard,
                                         int64_t shards) {
    return cell_dir / fmt::format("surface-epoch-{:04d}.shard-{}-of-{}.h5", epoch, shard, shards);
}

// Merges the surface shards of an epoch into its surface file when all exist.
void merge_finished_surface_shards(const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch,
                                   const std::string& command) {
    const auto merged = cell_dir / analysis_name("surface", epoch);
    if (std::filesystem::exists(merged) || config.slurm_surface_shards < 2) return;
    std::vector<std::filesystem::path> shards;
    for (int64_t i = 0; i < config.slurm_surface_shards; ++i) {
        shards.push_back(surface_shard_path(cell_dir, epoch, i, config.slurm_surface_shards));
        if (!std::filesystem::exists(shards.back())) return;
    }
    merge_surface_shards(merged, shards, command);
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
    OutputRecord record(const std::string& kind) const { return {command, analysis_settings(config, kind).dump()}; }
    // True when the output must be computed; an existing one must have these settings.
    bool needed(const std::filesystem::path& file, const std::string& kind) const {
        if (!std::filesystem::exists(file)) return true;
        require_same_settings(file, analysis_settings(config, kind));
        return false;
    }

    void hessian() const {
        if (!config.hessian.enabled || !needed(output("hessian"), "hessian")) return;
        Objective objective = Objective::load(
            source(), objective_options(config, config.hessian.samples, config.hessian.batch_size, Split::train));
        const HessianReport report = analyse_hessian(objective, hessian_request(config), progress);
        write_hessian_file(output("hessian"), objective, report, record("hessian"));
    }

    void gradient_variance() const {
        const StudyGradientVarianceSettings& settings = config.gradient_variance;
        if (!settings.enabled || !needed(output("gradvar"), "gradvar")) return;
        Objective objective = Objective::load(
            source(), objective_options(config, settings.batches * settings.batch_size, settings.batch_size, Split::train));
        const GradientVariance result = cellscape::gradient_variance(objective, progress);
        write_gradient_variance_file(output("gradvar"), {source().checkpoint}, {result}, objective.provenance(),
                                     record("gradvar"));
    }

    // The whole surface, or (`shard` set) one shard of it.
    void surface(std::optional<int64_t> shard) const {
        if (!config.surface.enabled) return;
        std::filesystem::path out = output("surface");
        if (!needed(out, "surface")) return;
        if (shard) {
            out = surface_shard_path(cell_dir, epoch, *shard, config.slurm_surface_shards);
            if (!needed(out, "surface")) return;
        }
        const LoadedSurfaceObjectives loaded = load_surface_objectives(
            source(), objective_options(config, config.surface.samples, config.surface.batch_size, Split::train),
            surface_evaluations(config));
        SurfaceRequest request = surface_request(config);
        if (shard) request.shard = {*shard, config.slurm_surface_shards};
        DirectionRequest directions;
        directions.seed = config.analysis_seed;  // the same seed for every cell: directions comparable in kind
        const SurfaceSlice slice =
            make_surface_slice(*loaded.objectives.evaluations.front().second, directions, request.y.has_value());
        compute_surface(loaded.objectives, slice, request, out, record("surface"), progress);
    }
};

void analyse_checkpoint(const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch,
                        const std::string& command, const StudyPart& part, ProgressSink* progress) {
    const CheckpointAnalysis analysis{config, cell_dir, epoch, command, progress};
    if (part.surface_shard) {
        if (!std::filesystem::exists(analysis.source().checkpoint))
            throw Error(fmt::format("{} does not exist: a surface shard runs after its cell is trained",
                                    analysis.source().checkpoint));
        analysis.surface(part.surface_shard);
        return;
    }
    analysis.hessian();
    analysis.gradient_variance();
    if (!part.skip_surfaces) analysis.surface(std::nullopt);
}

// A row's cell columns, from the genotype alone (also for failed cells).
StudyRow cell_row(const NamedGenotype& cell) {
    StudyRow row;
    row.cell = cell.name;
    row.genotype = format_genotype(cell.genotype);
    row.directory = cell_directory_name(cell.name);
    const CellMetrics normal = cell_metrics(cell.genotype.normal, CellType::normal);
    const CellMetrics reduce = cell_metrics(cell.genotype.reduce, CellType::reduce);
    row.normal_width = normal.width;
    row.normal_depth = normal.depth;
    row.reduce_width = reduce.width;
    row.reduce_depth = reduce.depth;
    row.status = "ok";
    return row;
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
    row.epochs_to_threshold =
        epochs_to_threshold(until_epoch, static_cast<int64_t>(steps_per_epoch), config.loss_threshold);
    const auto hessian_path = cell_dir / analysis_name("hessian", epoch);
    if (std::filesystem::exists(hessian_path)) {
        const Hdf5File file(hessian_path, Hdf5File::Mode::read);
        if (file.contains("eigenvalues")) row.top_eigenvalue = file.read("eigenvalues")[0].item<double>();
        if (file.has_attribute("/", "trace")) row.trace = file.double_attribute("/", "trace");
    }
    const auto gradvar_path = cell_dir / analysis_name("gradvar", epoch);
    if (std::filesystem::exists(gradvar_path)) {
        const Hdf5File file(gradvar_path, Hdf5File::Mode::read);
        row.gradient_variance = file.read("total_variance")[0].item<double>();
        row.noise_scale = file.read("noise_scale")[0].item<double>();
    }
}

}  // namespace

double epochs_to_threshold(const std::vector<double>& step_losses, int64_t steps_per_epoch, double threshold) {
    if (steps_per_epoch < 1) return NAN;
    const auto per_epoch = static_cast<std::size_t>(steps_per_epoch);
    const std::size_t window = std::max<std::size_t>(1, per_epoch / 4);
    double window_sum = 0;
    for (std::size_t step = 0; step < step_losses.size(); ++step) {
        window_sum += step_losses[step] - (step >= window ? step_losses[step - window] : 0.0);
        if (step + 1 >= window && window_sum / static_cast<double>(window) <= threshold)
            return static_cast<double>(step + 1) / static_cast<double>(per_epoch);
    }
    return NAN;
}

const std::vector<StudyColumn>& study_columns() {
    static const std::vector<StudyColumn> columns = {
        {"cell", &StudyRow::cell},
        {"genotype", &StudyRow::genotype},
        {"status", &StudyRow::status},
        {"directory", &StudyRow::directory},
        {"normal_width", &StudyRow::normal_width},
        {"normal_depth", &StudyRow::normal_depth},
        {"reduce_width", &StudyRow::reduce_width},
        {"reduce_depth", &StudyRow::reduce_depth},
        {"parameters", &StudyRow::parameters},
        {"epoch", &StudyRow::epoch},
        {"train_loss", &StudyRow::train_loss},
        {"train_acc", &StudyRow::train_accuracy},
        {"test_loss", &StudyRow::test_loss},
        {"test_acc", &StudyRow::test_accuracy},
        {"epochs_to_threshold", &StudyRow::epochs_to_threshold},
        {"top_eigenvalue", &StudyRow::top_eigenvalue},
        {"trace", &StudyRow::trace},
        {"gradient_variance", &StudyRow::gradient_variance},
        {"noise_scale", &StudyRow::noise_scale},
    };
    return columns;
}

namespace {

void write_summary(const std::filesystem::path& path, const StudyConfig& config, const std::vector<StudyRow>& rows,
                   const std::string& command) {
    write_hdf5_atomically(path, [&](Hdf5File& file) {
        write_standard_attributes(file, study_summary_format, 1, command);
        file.set_attribute("/", "name", config.name);
        file.set_attribute("/", "dataset", config.training.dataset);
        file.set_attribute("/", "loss_threshold", config.loss_threshold);
        file.set_attribute("/", "rows", static_cast<int64_t>(rows.size()));
        for (const StudyColumn& column : study_columns())
            std::visit(
                [&](auto field) {
                    using Value = std::remove_reference_t<decltype(std::declval<StudyRow>().*field)>;
                    std::vector<Value> values;
                    for (const auto& row : rows) values.push_back(row.*field);
                    if constexpr (std::is_same_v<Value, std::string>)
                        file.write_strings(column.name, values);
                    else
                        file.write(column.name, torch::tensor(values, std::is_same_v<Value, double> ? torch::kFloat64
                                                                                                    : torch::kInt64));
                },
                column.field);
    });
}

// The first output a finished cell has and this one lacks (empty if none).
std::filesystem::path missing_outputs(const StudyConfig& config, const std::filesystem::path& cell_dir) {
    std::vector<std::filesystem::path> needed{cell_dir / "train" / epoch_checkpoint_name(config.training.epochs)};
    for (int64_t epoch : config.analysis_epochs) {
        needed.push_back(cell_dir / "train" / epoch_checkpoint_name(epoch));
        if (config.hessian.enabled) needed.push_back(cell_dir / analysis_name("hessian", epoch));
        if (config.gradient_variance.enabled) needed.push_back(cell_dir / analysis_name("gradvar", epoch));
        if (config.surface.enabled) needed.push_back(cell_dir / analysis_name("surface", epoch));
    }
    for (const auto& path : needed)
        if (!std::filesystem::exists(path)) return path;
    return {};
}

// Between the steps of a study, where nothing is half written.
void stop_if_interrupted(const std::string& next) {
    if (InterruptGuard::requested())
        throw Interrupted(InterruptGuard::signal_number(),
                          fmt::format("interrupted before {}; rerun the same command to continue", next));
}

}  // namespace

std::string cell_directory_name(const std::string& cell_name) {
    std::string name = cell_name;
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') c = '-';
    return name.empty() || name.front() == '.' ? "cell" + name : name;
}

bool study_cell_finished(const StudyConfig& config, const std::filesystem::path& out_dir, const NamedGenotype& cell) {
    return missing_outputs(config, out_dir / cell_directory_name(cell.name)).empty();
}

std::vector<NamedGenotype> study_cells(const StudyConfig& config) {
    std::vector<NamedGenotype> cells;
    for (const auto& spec : config.cells)
        for (auto& cell : resolve_cells(spec)) cells.push_back(std::move(cell));
    for (std::size_t i = 0; i < cells.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (cell_directory_name(cells[i].name) == cell_directory_name(cells[j].name))
                throw Error(fmt::format("two cells of the study are both named {}: give each a distinct name "
                                        "(NAME = Genotype(...))",
                                        cells[i].name));
    return cells;
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

// One cell: train, analyse, and its rows from the files.
void run_cell(const StudyConfig& config, const NamedGenotype& cell, const std::filesystem::path& cell_dir,
              const std::string& command, const StudyPart& part, ProgressSink* progress, StudyResult& result) {
    std::filesystem::create_directories(cell_dir);
    if (!std::filesystem::exists(cell_dir / "cell.png")) render_dot(genotype_dot(cell), cell_dir / "cell.png");
    stop_if_interrupted("training " + cell.name);
    if (!part.collect_only && !part.surface_shard) train_cell(config, cell, cell_dir, command, progress);
    for (int64_t epoch : config.analysis_epochs) {
        stop_if_interrupted(fmt::format("analysing {} at epoch {}", cell.name, epoch));
        if (!part.collect_only) analyse_checkpoint(config, cell_dir, epoch, command, part, progress);
        StudyRow row = cell_row(cell);
        fill_row(row, config, cell_dir, epoch);
        result.rows.push_back(row);
    }
}

}  // namespace

void validate_study(const StudyConfig& config) {
    // The library's setting names where the config's keys differ.
    static const std::map<std::string, std::string> keys = {
        {"tolerance", "tol"},
        {"krylov_dimension", "ncv"},
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
    const double threshold = config.loss_threshold;
    if (!(threshold > 0) || !std::isfinite(threshold))
        throw study_config_error(config.source, "training", "loss_threshold",
                                 fmt::format("must be a positive number (got {})", threshold));
    if (config.hessian.enabled)
        where("analysis.hessian", [&] {
            objective_options(config, config.hessian.samples, config.hessian.batch_size, Split::train).validate();
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
            objective_options(config, settings.batches * settings.batch_size, settings.batch_size, Split::train)
                .validate();
        });
    if (config.surface.enabled)
        where("analysis.surface", [&] {
            objective_options(config, config.surface.samples, config.surface.batch_size, Split::train).validate();
            (void)surface_request(config);
            SurfaceEvaluations evaluations = surface_evaluations(config);
            if (config.surface.gradient_variance && config.surface.gv_batches < 2)
                throw SettingError("gv_batches", fmt::format("must be at least 2 for a variance (got {})",
                                                             config.surface.gv_batches));
            evaluations.validate();
        });
    (void)study_cells(config);
}

StudyResult run_study(const StudyConfig& config, const std::filesystem::path& out_dir, const std::string& command,
                      const StudyPart& part, ProgressSink* progress) {
    validate_study(config);
    const std::vector<NamedGenotype> cells = study_cells(config);
    if (part.surface_shard && (!part.only_cell || *part.surface_shard < 0 ||
                               *part.surface_shard >= config.slurm_surface_shards))
        throw Error(fmt::format("a surface shard belongs to one cell and is between 0 and {} "
                                "(slurm.surface_shards - 1)",
                                config.slurm_surface_shards - 1));
    if (part.only_cell && *part.only_cell >= cells.size())
        throw Error(fmt::format("cell index {} is out of range: the study has {} cells (0 to {})", *part.only_cell,
                                cells.size(), cells.size() - 1));
    std::filesystem::create_directories(out_dir);
    InterruptGuard interrupts;  // training and the analyses nest their own inside it
    StudyResult result;
    const ProgressTask task(progress, "study " + config.name, static_cast<int64_t>(cells.size()), "cells");
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (part.only_cell && *part.only_cell != i) continue;
        const NamedGenotype& cell = cells[i];
        const auto cell_dir = out_dir / cell_directory_name(cell.name);
        if (part.collect_only) {
            for (int64_t epoch : config.analysis_epochs) merge_finished_surface_shards(config, cell_dir, epoch, command);
            const auto missing = missing_outputs(config, cell_dir);
            if (!missing.empty()) {
                StudyRow row = cell_row(cell);
                row.status = fmt::format("not finished: {} is missing", missing.string());
                result.rows.push_back(row);
                ++result.failed_cells;
                continue;
            }
        }
        task.note(fmt::format("cell {}/{}: {}", i + 1, cells.size(), cell.name));
        const std::size_t rows_before = result.rows.size();
        try {
            run_cell(config, cell, cell_dir, command, part, progress, result);
        } catch (...) {
            // Interrupted goes on up (describe_failure rethrows it): the
            // summary is written only by a study that went through all its cells.
            const std::string failure = describe_failure(std::current_exception());
            result.rows.resize(rows_before);
            StudyRow row = cell_row(cell);
            row.status = fmt::format("failed: {}", failure);
            task.note(fmt::format("cell {} failed: {}; going on with the others", cell.name, failure));
            result.rows.push_back(row);
            ++result.failed_cells;
        }
        task.update(static_cast<int64_t>(i + 1));
    }
    if (!part.only_cell) {
        result.summary = out_dir / "summary.h5";
        write_summary(result.summary, config, result.rows, command);
    }
    return result;
}

std::string format_study_table(std::vector<StudyRow> rows) {
    std::stable_sort(rows.begin(), rows.end(), [](const StudyRow& a, const StudyRow& b) {
        return a.normal_width != b.normal_width ? a.normal_width < b.normal_width : a.epoch < b.epoch;
    });
    auto number = [](double value, const char* format) {
        return std::isnan(value) ? std::string("-") : fmt::format(fmt::runtime(format), value);
    };
    std::string table = fmt::format("{:<34} {:>6} {:>5} {:>5} {:>9} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}\n",
                                    "cell", "width", "depth", "epoch", "params", "train loss", "test loss", "test acc",
                                    "epochs<=t", "top eig", "trace", "grad var");
    for (const StudyRow& row : rows) {
        if (row.status != "ok") {
            table += fmt::format("{:<34} {:>6} {:>5}   {}\n", row.cell, format_width(row.normal_width),
                                 row.normal_depth, row.status);
            continue;
        }
        table += fmt::format("{:<34} {:>6} {:>5} {:>5} {:>9} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}\n", row.cell,
                             format_width(row.normal_width), row.normal_depth, row.epoch, row.parameters,
                             number(row.train_loss, "{:.4f}"), number(row.test_loss, "{:.4f}"),
                             number(row.test_accuracy, "{:.4f}"), number(row.epochs_to_threshold, "{:.2f}"),
                             number(row.top_eigenvalue, "{:.4g}"), number(row.trace, "{:.4g}"),
                             number(row.gradient_variance, "{:.4g}"));
    }
    return table;
}

}  // namespace cellscape
