// A replicate's rows of the study's tables, read back from its files (so
// reused work counts as much as new work; study/detail/replicate_rows.hpp).
#include "cellscape/study/detail/replicate_rows.hpp"

#include "cellscape/study/detail/replicate_files.hpp"

#include <fmt/format.h>

#include <cmath>
#include <initializer_list>
#include <string_view>

#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/analysis/hessian_report.hpp"
#include "cellscape/analysis/proxies.hpp"
#include "cellscape/analysis/surface.hpp"
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

}  // namespace cellscape::study_detail
