#include "study/study.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "analysis/gradient_variance.hpp"
#include "analysis/hessian_report.hpp"
#include "analysis/surface.hpp"
#include "cells/cell_spec.hpp"
#include "cells/diagram.hpp"
#include "cells/metrics.hpp"
#include "io/graphviz.hpp"
#include "io/hdf5.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/progress.hpp"

namespace cellscape {
namespace {

std::string analysis_name(const std::string& kind, int64_t epoch) {
    return fmt::format("{}-epoch-{:04d}.h5", kind, epoch);
}

ObjectiveOptions objective_options(const StudyConfig& config, int64_t samples, int64_t batch_size,
                                   const std::string& split) {
    ObjectiveOptions options;
    options.samples = samples;
    options.batch_size = batch_size;
    options.split = split;
    options.seed = config.analysis_seed;
    options.device = config.device;
    options.threads = config.threads;
    return options;
}

void train_cell(const StudyConfig& config, const NamedGenotype& cell, const std::filesystem::path& cell_dir,
                const std::string& command) {
    const auto train_dir = cell_dir / "train";
    if (std::filesystem::exists(train_dir / epoch_checkpoint_name(config.training.epochs))) return;
    TrainingRequest request;
    request.cell = cell;
    request.network = config.network;
    request.training = config.training;
    request.out_dir = train_dir;
    request.device = config.device;
    request.threads = config.threads;
    request.command = command;
    if (std::filesystem::exists(train_dir / "latest.h5")) {
        request.resume = train_dir / "latest.h5";
        request.threads.reset();  // the checkpoint's, so the resumed run is bitwise the same
    }
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

void analyse_checkpoint(const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch,
                        const std::string& command, const StudyPart& part) {
    const ObjectiveSource source{(cell_dir / "train" / epoch_checkpoint_name(epoch)).string(), "", "", ""};
    const bool surface_only = part.surface_shard.has_value();
    if (surface_only && !std::filesystem::exists(source.checkpoint))
        throw Error(fmt::format("{} does not exist: a surface shard runs after its cell is trained", source.checkpoint));
    if (!surface_only && config.hessian.enabled && !std::filesystem::exists(cell_dir / analysis_name("hessian", epoch))) {
        const StudyHessianSettings& settings = config.hessian;
        Objective objective =
            Objective::load(source, objective_options(config, settings.samples, settings.batch_size, "train"));
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
        const HessianReport report = analyse_hessian(objective, request);
        write_hessian_file(cell_dir / analysis_name("hessian", epoch), objective, report, command);
    }
    if (!surface_only && config.gradient_variance.enabled &&
        !std::filesystem::exists(cell_dir / analysis_name("gradvar", epoch))) {
        const StudyGradientVarianceSettings& settings = config.gradient_variance;
        Objective objective = Objective::load(
            source, objective_options(config, settings.batches * settings.batch_size, settings.batch_size, "train"));
        const GradientVariance result = gradient_variance(objective);
        write_gradient_variance_file(cell_dir / analysis_name("gradvar", epoch), {source.checkpoint}, {result},
                                     objective.provenance(), command);
    }
    auto surface_out = cell_dir / analysis_name("surface", epoch);
    if (surface_only) surface_out = surface_shard_path(cell_dir, epoch, *part.surface_shard, config.slurm_surface_shards);
    if (config.surface.enabled && !part.skip_surfaces && !std::filesystem::exists(surface_out) &&
        !std::filesystem::exists(cell_dir / analysis_name("surface", epoch))) {
        const StudySurfaceSettings& settings = config.surface;
        const LoadedSurfaceObjectives loaded = load_surface_objectives(
            source, objective_options(config, settings.samples, settings.batch_size, "train"), settings.evaluations,
            settings.gradient_variance ? settings.gv_batches : 0, settings.gv_batch_size);
        const SurfaceObjectives& objectives = loaded.objectives;
        SurfaceRequest request;
        request.x = GridAxis::parse(settings.x, "analysis.surface.x");
        if (!settings.y.empty()) request.y = GridAxis::parse(settings.y, "analysis.surface.y");
        if (surface_only) request.shard = {*part.surface_shard, config.slurm_surface_shards};
        DirectionRequest directions;
        directions.seed = config.analysis_seed;  // the same seed for every cell: directions comparable in kind
        const SurfaceSlice slice =
            make_surface_slice(*objectives.evaluations.front().second, directions, request.y.has_value());
        compute_surface(objectives, slice, request, surface_out, command);
    }
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
    // Convergence speed at step resolution: the first step where the mean
    // step loss over the last quarter epoch is at most the threshold, in epochs.
    const std::vector<double>& steps = history.step_loss;
    const std::size_t steps_per_epoch = state.epoch > 0 ? steps.size() / static_cast<std::size_t>(state.epoch) : 0;
    const std::size_t window = std::max<std::size_t>(1, steps_per_epoch / 4);
    double window_sum = 0;
    for (std::size_t step = 0; steps_per_epoch > 0 && step < steps_per_epoch * (last + 1); ++step) {
        window_sum += steps[step] - (step >= window ? steps[step - window] : 0.0);
        if (step + 1 >= window && window_sum / static_cast<double>(window) <= config.loss_threshold) {
            row.epochs_to_threshold = static_cast<double>(step + 1) / static_cast<double>(steps_per_epoch);
            break;
        }
    }
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

StudyResult run_study(const StudyConfig& config, const std::filesystem::path& out_dir, const std::string& command,
                      const StudyPart& part) {
    const std::vector<NamedGenotype> cells = study_cells(config);
    if (part.surface_shard && (!part.only_cell || *part.surface_shard < 0 ||
                               *part.surface_shard >= config.slurm_surface_shards))
        throw Error(fmt::format("a surface shard needs --cell-index and 0 <= shard < slurm.surface_shards ({})",
                                config.slurm_surface_shards));
    if (part.only_cell && *part.only_cell >= cells.size())
        throw Error(fmt::format("cell index {} is out of range: the study has {} cells (0 to {})", *part.only_cell,
                                cells.size(), cells.size() - 1));
    std::filesystem::create_directories(out_dir);
    InterruptGuard interrupts;  // analyses and training install their own while they run
    StudyResult result;
    Progress progress("study " + config.name, static_cast<int64_t>(cells.size()), "cells");
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (part.only_cell && *part.only_cell != i) continue;
        const NamedGenotype& cell = cells[i];
        const auto cell_dir = out_dir / cell_directory_name(cell.name);
        const StudyRow base = cell_row(cell);
        if (part.collect_only) {
            for (int64_t epoch : config.analysis_epochs) merge_finished_surface_shards(config, cell_dir, epoch, command);
            const auto missing = missing_outputs(config, cell_dir);
            if (!missing.empty()) {
                StudyRow row = base;
                row.status = fmt::format("not finished: {} is missing", missing.string());
                result.rows.push_back(row);
                ++result.failed_cells;
                continue;
            }
        }
        std::filesystem::create_directories(cell_dir);
        progress.note(fmt::format("cell {}/{}: {}", i + 1, cells.size(), cell.name));
        try {
            if (!std::filesystem::exists(cell_dir / "cell.png")) render_dot(genotype_dot(cell), cell_dir / "cell.png");
            stop_if_interrupted("training " + cell.name);
            if (!part.collect_only && !part.surface_shard) train_cell(config, cell, cell_dir, command);
            for (int64_t epoch : config.analysis_epochs) {
                stop_if_interrupted(fmt::format("analysing {} at epoch {}", cell.name, epoch));
                if (!part.collect_only) analyse_checkpoint(config, cell_dir, epoch, command, part);
                StudyRow row = base;
                fill_row(row, config, cell_dir, epoch);
                result.rows.push_back(row);
            }
        } catch (const Interrupted&) {
            if (!part.only_cell) write_summary(out_dir / "summary.h5", config, result.rows, command);
            throw;
        } catch (const Error& error) {
            StudyRow row = base;
            row.status = fmt::format("failed: {}", error.what());
            progress.note(fmt::format("cell {} failed: {}; going on with the others", cell.name, error.what()));
            result.rows.push_back(row);
            ++result.failed_cells;
        }
        progress.update(static_cast<int64_t>(i + 1));
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
