// A replicate's rows of the study's tables, read back from its files (so
// reused work counts as much as new work; study/detail/replicate_rows.hpp).
#include "cellscape/study/detail/replicate_rows.hpp"

#include "cellscape/study/detail/replicate_files.hpp"

#include <fmt/format.h>

#include <cmath>
#include <initializer_list>
#include <string_view>

#include "cellscape/analysis/gradient_variance_file.hpp"
#include "cellscape/analysis/hessian_file.hpp"
#include "cellscape/analysis/proxies_file.hpp"
#include "cellscape/analysis/surface_file.hpp"
#include "cellscape/cells/metrics.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/names.hpp"

namespace cellscape::study_detail {

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
        const SurfaceBasin basin = read_replicate_file(path, surface_format, [&](const std::filesystem::path& file) {
            return read_surface_basin(file, config.surface.basin_level);
        });
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
    const ProxiesFileValues values = read_replicate_file(path, proxies_format, read_proxies_file);
    for (const StudyMetric& metric : study_metrics()) {
        if (std::string_view(metric.family) != proxies_family) continue;
        const Proxy proxy = parse_name<Proxy>(metric.name, "proxies");
        for (const auto& [scored, value] : values.scores)
            if (scored == proxy) row.*metric.field = value;  // a refused proxy, or one not asked for, stays NaN
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
namespace {

// The rows of one replicate's parts table, added by part name as the files are read.
class PartRows {
public:
    PartRows(std::vector<StudyPartRow>& out, const StudyRow& row, int64_t epoch)
        : out_(out), first_(out.size()), row_(row), epoch_(epoch) {}

    StudyPartRow& named(const std::string& name) {
        for (std::size_t i = first_; i < out_.size(); ++i)
            if (out_[i].part == name) return out_[i];
        StudyPartRow part;
        part.cell = row_.cell;
        part.directory = row_.directory;
        part.population = row_.population;
        part.seed = row_.seed;
        part.epoch = epoch_;
        part.part = name;
        out_.push_back(part);
        return out_.back();
    }

private:
    std::vector<StudyPartRow>& out_;
    std::size_t first_;
    const StudyRow& row_;
    int64_t epoch_;
};

void append_hessian_parts(PartRows& parts, const std::filesystem::path& path) {
    for (const HessianFilePart& read : read_replicate_file(path, hessian_format, read_hessian_parts)) {
        StudyPartRow& part = parts.named(read.name);
        part.parameters = read.parameters;
        part.top_eigenvalue = read.top_eigenvalue;
        part.trace = read.trace;
        part.trace_stderr = read.trace_stderr;
    }
}

void append_gradient_variance_parts(PartRows& parts, const std::filesystem::path& path) {
    for (const GradientVarianceFilePart& read :
         read_replicate_file(path, gradient_variance_format, read_gradient_variance_parts)) {
        StudyPartRow& part = parts.named(read.name);
        part.gradient_variance = read.variance;
        part.gradient_norm = read.gradient_norm;
    }
}

}  // namespace

void append_parts(std::vector<StudyPartRow>& out, const StudyConfig& config, const StudyRow& row,
                  const std::filesystem::path& cell_dir, int64_t epoch) {
    PartRows parts(out, row, epoch);
    // Only what this config asks for: a file left from another config's by_part is not read.
    const auto hessian_path = cell_dir / analysis_name("hessian", epoch);
    if (config.hessian.enabled && config.hessian.request.parts && std::filesystem::exists(hessian_path))
        append_hessian_parts(parts, hessian_path);
    const auto gradvar_path = cell_dir / analysis_name("gradvar", epoch);
    if (config.gradient_variance.enabled && config.gradient_variance.parts && std::filesystem::exists(gradvar_path))
        append_gradient_variance_parts(parts, gradvar_path);
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
        const HessianFileValues values = read_replicate_file(hessian_path, hessian_format, read_hessian_file);
        if (values.top_eigenvalue) row.top_eigenvalue = *values.top_eigenvalue;
        if (values.trace) row.trace = *values.trace;
    }
    const auto gradvar_path = cell_dir / analysis_name("gradvar", epoch);
    if (std::filesystem::exists(gradvar_path)) {
        const GradientVarianceFileValues values =
            read_replicate_file(gradvar_path, gradient_variance_format, read_gradient_variance_file);
        row.gradient_variance = values.total_variance;
        row.noise_scale = values.noise_scale;
    }
    fill_basin(row, config, cell_dir, epoch);
    fill_proxies(row, config, cell_dir);
}

}  // namespace cellscape::study_detail
