#include "cellscape/analysis/surface.hpp"

#include "cellscape/analysis/surface_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>

#include "cellscape/analysis/directions.hpp"
#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/io/output_lock.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/hash.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/text.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {
namespace {

// A whole-string number, or nullopt.
template <typename T>
std::optional<T> parse_number(const std::string& text) {
    try {
        std::size_t used = 0;
        T value;
        if constexpr (std::is_same_v<T, double>) value = std::stod(text, &used);
        else value = std::stoll(text, &used);
        if (used != text.size()) return std::nullopt;
        return value;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}


std::string ignore_name(bool ignore_bias_and_bn) { return ignore_bias_and_bn ? "biasbn" : "none"; }


// Everything that makes two runs compute the same numbers at the same points,
// except which shard they compute: runs with equal descriptions can resume
// each other and be merged.
nlohmann::ordered_json describe_slice(const SurfaceObjectives& objectives, const SurfaceSlice& slice,
                                      const SurfaceRequest& request) {
    auto describe_objective = [](const Objective& objective) {
        const ObjectiveProvenance& p = objective.provenance();
        nlohmann::ordered_json described{{"weights", p.weights_hash},   {"dataset", p.dataset},
                                         {"split", p.split},            {"samples", p.sample_indices_hash},
                                         {"count", p.samples},          {"batch_size", p.batch_size},
                                         {"bn", p.bn_mode},             {"dtype", p.dtype},
                                         {"selection", p.parameter_selection}};
        // TensorFloat-32 changes the numbers; IEEE float32 on CUDA is the CPU's
        // float32 in another summation order, as the device is not described
        // either (and slices written before the policy was recorded resume).
        if (p.cuda_float32 == "tf32") described["cuda_float32"] = p.cuda_float32;
        return described;
    };
    nlohmann::ordered_json description;
    for (const auto& [name, objective] : objectives.evaluations) description[name] = describe_objective(*objective);
    if (objectives.gradient_variance)
        description["gradient_variance"] = describe_objective(*objectives.gradient_variance);
    description["x"] = request.x.spec();
    description["y"] = request.y ? request.y->spec() : "";
    description["xdirection"] = hash_tensors(slice.x_direction);
    description["ydirection"] = slice.y_direction.empty() ? "" : hash_tensors(slice.y_direction);
    if (!slice.buffer_x_direction.empty()) description["buffer_xdirection"] = hash_tensors(slice.buffer_x_direction);
    return description;
}


void write_direction(Hdf5File& file, const std::string& group, const NamedTensors& direction) {
    file.create_group(group);
    for (const auto& [name, tensor] : direction) file.write(group + "/" + name, tensor);
}

// The slice's file: everything but the values, written once (atomically).
void write_slice_file(Hdf5File& file, const SurfaceObjectives& objectives, const SurfaceSlice& slice,
                      const SurfaceRequest& request, const nlohmann::ordered_json& description,
                      const SurfaceValues& values, const OutputRecord& record) {
    write_standard_attributes(file, surface_format, surface_format_version, record);
    const Objective& first = *objectives.evaluations.front().second;
    first.provenance().write_to(file);
    std::vector<std::string> evaluation_names;
    for (const auto& [name, objective] : objectives.evaluations) {
        evaluation_names.push_back(name);
        file.set_attribute("/", name + "_samples", objective->provenance().samples);
        file.set_attribute("/", name + "_sample_indices_hash", objective->provenance().sample_indices_hash);
    }
    file.set_attribute("/", "split", fmt::to_string(fmt::join(evaluation_names, ",")));
    file.set_attribute("/", surface_file::evaluations, fmt::to_string(fmt::join(evaluation_names, ",")));
    file.set_attribute("/", "x", request.x.spec());
    file.set_attribute("/", "y", request.y ? request.y->spec() : std::string());
    file.set_attribute("/", "directions", slice.source);
    file.set_attribute("/", "norm", slice.norm);
    if (slice.seed) file.set_attribute("/", "directions_seed", static_cast<int64_t>(*slice.seed));
    file.set_attribute("/", "slice", description.dump());
    file.set_attribute("/", "slice_key", slice_key(description));
    file.set_attribute("/", "shard", request.shard.spec());
    file.set_attribute("/", "complete", int64_t{0});
    file.set_attribute("/", "basin_level", request.basin_level);
    if (objectives.gradient_variance) {
        const Objective& gv = *objectives.gradient_variance;
        file.set_attribute("/", "gradient_variance_batches", static_cast<int64_t>(gv.batch_count()));
        file.set_attribute("/", "gradient_variance_batch_size", gv.batch_samples(0));
    }
    file.write(surface_file::xcoordinates, torch::tensor(request.x.coordinates(), torch::kFloat64));
    if (request.y) file.write(surface_file::ycoordinates, torch::tensor(request.y->coordinates(), torch::kFloat64));
    write_direction(file, "xdirection", slice.x_direction);
    if (!slice.y_direction.empty()) write_direction(file, "ydirection", slice.y_direction);
    values.write_to(file);
}

// Buffers at origin + a * direction, on every objective.
void set_buffers_along(const std::vector<Objective*>& objectives, const SurfaceSlice& slice, double a) {
    NamedTensors buffers;
    for (std::size_t i = 0; i < slice.buffer_origin.size(); ++i)
        buffers.emplace_back(slice.buffer_origin[i].first,
                             slice.buffer_origin[i].second + a * slice.buffer_x_direction[i].second);
    for (Objective* objective : objectives) objective->set_buffers(buffers);
}

}  // namespace

GridAxis GridAxis::parse(const std::string& spec, const std::string& setting) {
    const auto parts = spec.size() <= 100 ? split_fields(spec, ':') : std::vector<std::string>{};
    const auto min = parts.size() == 3 ? parse_number<double>(parts[0]) : std::nullopt;
    const auto max = parts.size() == 3 ? parse_number<double>(parts[1]) : std::nullopt;
    const auto count = parts.size() == 3 ? parse_number<long long>(parts[2]) : std::nullopt;
    if (!min || !max || !count || !std::isfinite(*min) || !std::isfinite(*max))
        throw SettingError(setting, fmt::format("'{}': give the grid as MIN:MAX:NUM with numbers MIN and MAX and an "
                                                "integer NUM, e.g. -1:1:51",
                                                spec.substr(0, 100)));
    if (*count < 1 || *count > most_points)
        throw SettingError(setting, fmt::format("'{}': NUM must be between 1 and {} (got {})", spec, most_points,
                                                *count));
    if (*count == 1 && *min != *max)
        throw SettingError(setting, fmt::format("'{}': one point (NUM=1) needs MIN = MAX, e.g. 0:0:1", spec));
    if (*count > 1 && !(*min < *max))
        throw SettingError(setting, fmt::format("'{}': MIN must be less than MAX (swap them: {}:{}:{})", spec,
                                                parts[1], parts[0], parts[2]));
    // The points are min + i * (max - min) / (NUM - 1): the span must be a finite number, and neighbours distinct.
    const double step = *count > 1 ? (*max - *min) / static_cast<double>(*count - 1) : 0.0;
    if (!std::isfinite(*max - *min) || (*count > 1 && !(*min + step > *min && *max - step < *max)))
        throw SettingError(setting, fmt::format("'{}': the points between MIN and MAX are not distinct finite numbers "
                                                "(the span overflows or the spacing vanishes); choose bounds like "
                                                "-1:1:{}",
                                                spec, *count));
    return {*min, *max, static_cast<int64_t>(*count)};
}

void SurfaceRequest::validate() const {
    if (!(basin_level > 1) || !std::isfinite(basin_level))
        throw SettingError("basin_level", fmt::format("must be a number above 1 (got {})", basin_level));
    const int64_t points = x.count * (y ? y->count : 1);
    if (points > most_points)
        throw SettingError(y ? "y" : "x", fmt::format("the grid {}{} has {} points; a surface holds at most {}: use "
                                                      "fewer points per axis",
                                                      x.spec(), y ? " by " + y->spec() : std::string(), points,
                                                      most_points));
}

void SurfaceEvaluations::validate() const {
    if (splits.empty())
        throw SettingError("evaluations", "is empty: a surface needs the loss on at least one split (train, test)");
    for (std::size_t i = 0; i < splits.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (splits[i] == splits[j])
                throw SettingError("evaluations", fmt::format("names {} twice", name_of(splits[i])));
    if (gradient_variance_batches == 1 || gradient_variance_batches < 0)
        throw SettingError("gradient_variance_batches",
                           fmt::format("must be 0 (no gradient variance) or at least 2 batches for a variance (got {})",
                                       gradient_variance_batches));
    if (gradient_variance_batches > 0 && gradient_variance_batch_size < 1)
        throw SettingError("gradient_variance_batch_size",
                           fmt::format("must be at least 1 (got {})", gradient_variance_batch_size));
}

SurfaceJob resolve_surface(const SurfaceSettings& settings, const AnalysisContext& context) {
    SurfaceJob job;
    job.samples = context.training_samples(settings.samples);
    job.objective = context.objective_options(settings.batch_size);
    job.samples.validate();
    job.objective.validate();
    job.x = settings.x;
    job.y = settings.y;
    job.request.basin_level = settings.basin_level;
    job.request.x = GridAxis::parse(settings.x, "x");
    if (!settings.y.empty()) job.request.y = GridAxis::parse(settings.y, "y");
    job.request.validate();
    if (settings.gradient_variance && settings.gv_batches < 2)
        throw SettingError("gv_batches", fmt::format("must be at least 2 for a variance (got {})", settings.gv_batches));
    SurfaceEvaluations& evaluations = job.evaluations;
    evaluations.splits = settings.evaluations;
    evaluations.gradient_variance_batches = settings.gradient_variance ? settings.gv_batches : 0;
    evaluations.gradient_variance_batch_size = settings.gv_batch_size;
    evaluations.gradient_variance_split = settings.gv_split;
    evaluations.gradient_variance_bn_mode = settings.gv_bn;
    try {
        evaluations.validate();
    } catch (const SettingError& error) {
        // Named as the settings' keys.
        static const std::map<std::string, std::string> keys = {
            {"evaluations", "eval"},
            {"gradient_variance_batches", "gv_batches"},
            {"gradient_variance_batch_size", "gv_batch_size"},
            {"gradient_variance_split", "gv_split"},
        };
        const auto key = keys.find(error.setting());
        throw SettingError(key == keys.end() ? error.setting() : key->second, error.problem());
    }
    return job;
}

nlohmann::ordered_json surface_settings_json(const SurfaceJob& job) {
    const SurfaceEvaluations& evaluations = job.evaluations;
    nlohmann::json splits = nlohmann::json::array();
    for (const Split split : evaluations.splits) splits.push_back(name_of(split));
    const bool gradient_variance = evaluations.gradient_variance_batches > 0;
    nlohmann::ordered_json settings = {{"x", job.x},
                                       {"y", job.y},
                                       {"eval", splits},
                                       {"samples", job.samples.samples},
                                       {"batch_size", job.objective.batch_size},
                                       {"gradient_variance", gradient_variance}};
    if (gradient_variance)
        settings.update({{"gv_batches", evaluations.gradient_variance_batches},
                         {"gv_batch_size", evaluations.gradient_variance_batch_size},
                         {"gv_split", name_of(evaluations.gradient_variance_split)},
                         {"gv_bn", name_of(evaluations.gradient_variance_bn_mode)}});
    add_evaluation_settings(settings, job.samples, job.objective);
    return settings;
}

std::vector<double> GridAxis::coordinates() const {
    std::vector<double> values;
    for (int64_t i = 0; i < count; ++i)
        values.push_back(i + 1 == count ? max
                                        : min + (max - min) * static_cast<double>(i) / static_cast<double>(count - 1));
    return values;
}

std::string GridAxis::spec() const { return fmt::format("{}:{}:{}", min, max, count); }

Shard Shard::from_slurm_array(const char* id, const char* count, const char* minimum) {
    if (!id) return {};
    const long long task = parse_number<long long>(id).value_or(-1);
    const long long tasks = count ? parse_number<long long>(count).value_or(0) : 0;
    const long long first = minimum ? parse_number<long long>(minimum).value_or(-1) : 0;
    if (task < 0 || first < 0 || task - first < 0 || task - first >= tasks)
        throw SettingError("shard", fmt::format("SLURM_ARRAY_TASK_ID={} with SLURM_ARRAY_TASK_COUNT={} and "
                                                "SLURM_ARRAY_TASK_MIN={} do not give a shard; use a contiguous "
                                                "Slurm array (e.g. 0-7) or give the shard as I/N",
                                                id, count ? count : "(unset)", minimum ? minimum : "(unset)"));
    return {task - first, tasks};
}

Shard Shard::parse(const std::string& spec) {
    if (spec.empty()) return {};
    const auto parts = split_fields(spec, '/');
    const auto index = parts.size() == 2 ? parse_number<long long>(parts[0]) : std::nullopt;
    const auto count = parts.size() == 2 ? parse_number<long long>(parts[1]) : std::nullopt;
    if (!index || !count || *count < 1 || *index < 0 || *index >= *count)
        throw SettingError("shard", fmt::format("'{}': give I/N with 0 <= I < N, e.g. 0/4 for the first of four shards",
                                                spec.substr(0, 100)));
    return {*index, *count};
}

std::string Shard::spec() const { return fmt::format("{}/{}", index, count); }

SurfaceSlice make_surface_slice(const Objective& objective, const DirectionRequest& request, bool two_dimensional) {
    SurfaceSlice slice;
    for (const auto& [name, parameter] : objective.parameters())
        slice.origin.emplace_back(name, parameter.detach().clone());
    const DirectionSource source = request.source;
    const bool drawn = source == DirectionSource::random || source == DirectionSource::hessian;
    slice.source = source == DirectionSource::random ? "random"
                                                     : fmt::format("{}:{}", name_of(source), request.file.string());
    const DirectionNorm norm =
        request.norm.value_or(source == DirectionSource::random ? DirectionNorm::filter : DirectionNorm::none);
    slice.norm = name_of(norm);
    if (!drawn && norm != DirectionNorm::none)
        throw SettingError("norm", fmt::format("{} cannot apply to {}: those directions are used as they are",
                                               slice.norm,
                                               source == DirectionSource::surface ? "directions from an earlier surface"
                                                                                  : "an interpolation"));
    if (source == DirectionSource::interpolate && two_dimensional)
        throw SettingError("y", "an interpolation between two checkpoints is 1D: give no y axis");
    if (source != DirectionSource::random && request.file.empty())
        throw SettingError("directions", fmt::format("{} directions need a file", name_of(source)));

    switch (source) {
        case DirectionSource::random: {
            at::Generator generator = at::detail::createCPUGenerator(request.seed);
            slice.seed = request.seed;
            slice.x_direction = random_direction(slice.origin, generator);
            if (two_dimensional) slice.y_direction = random_direction(slice.origin, generator);
            break;
        }
        case DirectionSource::hessian:
            slice.x_direction = hessian_direction(request.file, 0, slice.origin);
            if (two_dimensional) slice.y_direction = hessian_direction(request.file, 1, slice.origin);
            break;
        case DirectionSource::surface: {
            const Hdf5File file(request.file, Hdf5File::Mode::read);
            require_format(file, surface_format, surface_format_version);
            slice.x_direction = read_direction(file, "xdirection", slice.origin);
            if (two_dimensional) {
                if (!file.contains("ydirection"))
                    throw Error(fmt::format("{} is a 1D surface: it has no y direction", file.path().string()));
                slice.y_direction = read_direction(file, "ydirection", slice.origin);
            }
            break;
        }
        case DirectionSource::interpolate: {
            const TrainingState state = read_checkpoint(request.file);
            slice.x_direction = difference_direction(state.parameters, slice.origin, request.file.string());
            for (const auto& [name, buffer] : objective.buffers())
                if (buffer.is_floating_point()) slice.buffer_origin.emplace_back(name, buffer.detach().clone());
            slice.buffer_x_direction = difference_direction(state.buffers, slice.buffer_origin, request.file.string());
            break;
        }
    }
    if (drawn) {
        normalize_direction(slice.x_direction, slice.origin, norm, request.ignore_bias_and_bn);
        if (two_dimensional) normalize_direction(slice.y_direction, slice.origin, norm, request.ignore_bias_and_bn);
        slice.norm += ", ignore " + ignore_name(request.ignore_bias_and_bn);
    }
    return slice;
}

LoadedSurfaceObjectives load_surface_objectives(const ObjectiveSource& source, const EvaluationSamples& samples,
                                                const ObjectiveOptions& options, const SurfaceEvaluations& evaluations) {
    evaluations.validate();
    LoadedSurfaceObjectives loaded;
    for (const Split split : evaluations.splits) {
        EvaluationSamples from_split = samples;
        from_split.split = split;
        loaded.owned.push_back(std::make_unique<Objective>(Objective::load(source, from_split, options)));
        loaded.objectives.evaluations.emplace_back(std::string(name_of(split)), loaded.owned.back().get());
    }
    if (evaluations.gradient_variance_batches > 0) {
        EvaluationSamples batches = samples;
        batches.split = evaluations.gradient_variance_split;
        batches.sampling = Sampling::random;
        batches.samples = evaluations.gradient_variance_batches * evaluations.gradient_variance_batch_size;
        ObjectiveOptions settings = options;
        settings.bn_mode = evaluations.gradient_variance_bn_mode;
        settings.batch_size = evaluations.gradient_variance_batch_size;
        loaded.owned.push_back(std::make_unique<Objective>(Objective::load(source, batches, settings)));
        loaded.objectives.gradient_variance = loaded.owned.back().get();
    }
    return loaded;
}

namespace {

// The objectives a surface moves, and their weights and buffers put back at
// the slice's origin when it ends, however it ends.
class MovedObjectives {
public:
    MovedObjectives(const SurfaceObjectives& objectives, const SurfaceSlice& slice) : slice_(slice) {
        for (const auto& [name, objective] : objectives.evaluations) all_.push_back(objective);
        if (objectives.gradient_variance) all_.push_back(objectives.gradient_variance);
        for (const Objective* objective : all_)
            if (objective->dimension() != all_.front()->dimension())
                throw Error("internal: the surface's objectives select different parameters");
        const Objective& first = *all_.front();
        auto flat = [&](const NamedTensors& tensors) {
            std::vector<torch::Tensor> parts;
            for (const auto& [name, tensor] : tensors) parts.push_back(tensor.to(first.device(), first.dtype()));
            return first.flatten(parts);
        };
        origin_ = flat(slice.origin);
        x_direction_ = flat(slice.x_direction);
        y_direction_ = slice.y_direction.empty() ? torch::zeros_like(origin_) : flat(slice.y_direction);
    }
    ~MovedObjectives() {
        try {
            move_to(0.0, 0.0);
        } catch (...) {  // nothing sensible to do in a destructor; the weights were set from the same tensors before
        }
    }
    MovedObjectives(const MovedObjectives&) = delete;
    MovedObjectives& operator=(const MovedObjectives&) = delete;

    // Weights at origin + a x + b y (and buffers along x for interpolations).
    void move_to(double a, double b) {
        const torch::Tensor weights = origin_ + a * x_direction_ + b * y_direction_;
        for (Objective* objective : all_) objective->set_parameter_vector(weights);
        if (!slice_.buffer_x_direction.empty()) set_buffers_along(all_, slice_, a);
    }

private:
    const SurfaceSlice& slice_;
    std::vector<Objective*> all_;
    torch::Tensor origin_, x_direction_, y_direction_;
};

// The values at the current weights into `values` at `point`; false when the
// loss or a gradient is not finite there (the point keeps NaN for those).
bool evaluate_point(const SurfaceObjectives& objectives, SurfaceValues& values, int64_t point) {
    bool finite = true;
    for (const auto& [name, objective] : objectives.evaluations) {
        const LossAndAccuracy result = objective->loss_and_accuracy(false);
        values.values[name + "_loss"][point] = result.loss;
        values.values[name + "_acc"][point] = result.accuracy;
        finite = finite && std::isfinite(result.loss);
    }
    if (!objectives.gradient_variance || !finite) return finite;
    try {
        const GradientVariance noise = gradient_variance(*objectives.gradient_variance);
        values.values["gradient_variance"][point] = noise.total_variance;
        values.values["gradient_norm"][point] = noise.gradient_norm;
        values.values["noise_scale"][point] = noise.noise_scale;
        return true;
    } catch (const NonFiniteGradient&) {
        return false;
    }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// An unfinished surface on disk, kept so that a killed run (kill -9
// included) continues where it stopped and never trusts a half-written
// file: OUT.partial holds the slice (directions, grid, provenance) and is
// written once, atomically; OUT.points holds the values and the completion
// mask and is rewritten atomically after every point; the finished OUT is
// made from the two under a temporary name and renamed into place.
class PartialSurface {
public:
    PartialSurface(const std::filesystem::path& out, std::string key, std::string shard)
        : out_(out), slice_(with_suffix(".partial")), points_(with_suffix(".points")), key_(std::move(key)),
          shard_(std::move(shard)) {}

    const std::filesystem::path& slice_file() const { return slice_; }

    // The values saved so far into `values`, and the seconds their points
    // took; false when there is nothing to continue.
    bool read_saved(SurfaceValues& values, const std::vector<std::string>& names, double& seconds) const {
        if (!std::filesystem::exists(slice_)) {
            std::filesystem::remove(points_);  // values without their slice cannot be trusted
            return false;
        }
        try {
            const Hdf5File existing(slice_, Hdf5File::Mode::read);
            require_format(existing, surface_format, surface_format_version);
            if (existing.string_attribute("/", "slice_key") != key_ || existing.string_attribute("/", "shard") != shard_)
                throw Error(fmt::format("{} is an unfinished surface with other settings (model, data, directions, "
                                        "grid, evaluations or shard); rerun with the settings it was started with, or "
                                        "delete it to start over",
                                        slice_.string()));
            if (!std::filesystem::exists(points_)) return true;  // no point finished yet
            const Hdf5File saved(points_, Hdf5File::Mode::read);
            if (saved.string_attribute("/", "slice_key") != key_)
                throw Hdf5Error(fmt::format("{} belongs to another surface", points_.string()));
            values.read_from(saved, names);
            if (saved.has_attribute("/", "compute_seconds")) seconds = saved.double_attribute("/", "compute_seconds");
            return true;
        } catch (const Hdf5Error& error) {
            throw Error(fmt::format("{} is an unfinished surface that cannot be continued ({}); delete it and {} to "
                                    "start over",
                                    slice_.string(), error.what(), points_.string()));
        }
    }

    void create(const std::function<void(Hdf5File&)>& write) const { write_hdf5_atomically(slice_, write); }

    void save(const SurfaceValues& values, double seconds) const {
        write_hdf5_atomically(points_, [&](Hdf5File& file) {
            file.set_attribute("/", "slice_key", key_);
            file.set_attribute("/", "compute_seconds", seconds);
            values.write_to(file);
        });
    }

    // The finished file: the slice's file with the final values (and, for a
    // whole grid, its basin metrics) and the seconds all its points took
    // (over every run that computed some), renamed onto OUT.
    void finish(const SurfaceValues& values, std::optional<double> basin_level, double seconds) const {
        const std::filesystem::path finished = with_suffix(".finished");
        std::filesystem::copy_file(slice_, finished, std::filesystem::copy_options::overwrite_existing);
        {
            Hdf5File file(finished, Hdf5File::Mode::read_write);
            values.write_to(file);
            if (basin_level) write_basin_attributes(file, *basin_level);
            file.set_attribute("/", "compute_seconds", seconds);
            file.set_attribute("/", "complete", int64_t{1});
            file.close();
        }
        std::filesystem::rename(finished, out_);
        remove_leftovers();
    }

    void remove_leftovers() const {
        std::filesystem::remove(slice_);
        std::filesystem::remove(points_);
    }

    // Whether `file` is a finished surface of this slice and shard.
    bool is_finished_file(const std::filesystem::path& file) const {
        try {
            const Hdf5File existing(file, Hdf5File::Mode::read);
            require_format(existing, surface_format, surface_format_version);
            return existing.int_attribute("/", "complete") == 1 && existing.string_attribute("/", "slice_key") == key_ &&
                   existing.string_attribute("/", "shard") == shard_;
        } catch (const Hdf5Error&) {
            return false;
        }
    }

private:
    std::filesystem::path with_suffix(const char* suffix) const {
        std::filesystem::path path = out_;
        path += suffix;
        return path;
    }
    std::filesystem::path out_, slice_, points_;
    std::string key_, shard_;
};

}  // namespace

SurfaceRun compute_surface(const SurfaceObjectives& objectives, const SurfaceSlice& slice,
                           const SurfaceRequest& request, const std::filesystem::path& out,
                           const OutputRecord& record, ProgressSink* progress) {
    if (objectives.evaluations.empty())
        throw SettingError("evaluations", "is empty: a surface needs the loss on at least one split (train, test)");
    if (objectives.gradient_variance && objectives.gradient_variance->batch_count() < 2)
        throw SettingError("gradient_variance_batches", "must be at least 2 batches for a variance");
    request.validate();
    if (request.y.has_value() != !slice.y_direction.empty())
        throw Error("internal: a 2D grid needs two directions and a 1D grid one");
    check_output_file(out, true, "out");  // an existing file is decided below, once the slice is known
    const auto start = std::chrono::steady_clock::now();
    const int64_t nx = request.x.count, ny = request.y ? request.y->count : 1;
    const std::vector<double> xs = request.x.coordinates();
    const std::vector<double> ys = request.y ? request.y->coordinates() : std::vector<double>{0.0};

    std::vector<std::string> evaluation_names;
    for (const auto& [name, objective] : objectives.evaluations) evaluation_names.push_back(name);
    const std::vector<std::string> names = value_names(evaluation_names, objectives.gradient_variance != nullptr);
    SurfaceValues values(request.y ? std::vector<int64_t>{ny, nx} : std::vector<int64_t>{nx}, names);
    const OutputLock lock(out, fmt::format("the surface {}", out.string()));
    const nlohmann::ordered_json description = describe_slice(objectives, slice, request);
    const PartialSurface partial(out, slice_key(description), request.shard.spec());
    SurfaceRun run;
    run.grid_points = nx * ny;
    for (int64_t point = 0; point < nx * ny; ++point) run.shard_points += request.shard.owns(point);
    if (std::filesystem::exists(out) && !request.overwrite) {
        // Rerunning a finished command finds its result (a run killed after
        // it renamed the file leaves only what remains to clean up).
        if (!partial.is_finished_file(out))
            throw SettingError("out", fmt::format("{} already exists and is not this surface: name another file, or "
                                                  "allow overwriting it",
                                                  out.string()));
        partial.remove_leftovers();
        run.file = out;
        run.resumed = run.shard_points;
        run.complete = true;
        return run;
    }
    double earlier_seconds = 0;  // what the saved points took in earlier runs
    if (!partial.read_saved(values, names, earlier_seconds))
        partial.create([&](Hdf5File& file) {
            write_slice_file(file, objectives, slice, request, description, values, record);
        });

    auto* completed = values.completed.data_ptr<uint8_t>();
    for (int64_t point = 0; point < nx * ny; ++point) run.resumed += request.shard.owns(point) && completed[point];
    const ProgressTask task(progress, "surface", run.shard_points, "points");
    if (run.resumed > 0)
        task.note(fmt::format("resuming {}: {} of {} points already done", partial.slice_file().string(), run.resumed,
                              run.shard_points));
    auto interrupted = [&] {
        return Interrupted(InterruptGuard::signal_number(),
                           fmt::format("interrupted; {} of {} points are saved beside {}: rerun the same command to "
                                       "continue",
                                       run.resumed + run.computed, run.shard_points, out.string()));
    };
    double point_seconds = 0;
    {
        MovedObjectives moved(objectives, slice);
        const auto points_start = std::chrono::steady_clock::now();
        for (int64_t point = 0; point < nx * ny; ++point) {
            if (!request.shard.owns(point) || completed[point]) continue;
            if (InterruptGuard::requested()) throw interrupted();
            const double a = xs[static_cast<std::size_t>(point % nx)], b = ys[static_cast<std::size_t>(point / nx)];
            moved.move_to(a, b);
            try {
                run.non_finite += !evaluate_point(objectives, values, point);
            } catch (const Interrupted&) {  // inside a gradient variance: this point is not saved, the others are
                throw interrupted();
            }
            completed[point] = 1;
            partial.save(values, earlier_seconds + seconds_since(points_start));
            ++run.computed;
            task.update(run.resumed + run.computed,
                        fmt::format("{} {:.4g} at ({:.3g}, {:.3g})", names.front(),
                                    values.values[names.front()][point].item<double>(), a, b));
        }
        point_seconds = seconds_since(points_start);
    }
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    run.seconds_per_point = run.computed > 0 ? point_seconds / static_cast<double>(run.computed) : 0;
    partial.finish(values, request.shard.count == 1 ? std::optional<double>(request.basin_level) : std::nullopt,
                   earlier_seconds + point_seconds);
    run.file = out;
    run.complete = true;
    return run;
}

void merge_surface_shards(const std::filesystem::path& out, const std::vector<std::filesystem::path>& shards,
                          const std::string& command) {
    if (shards.empty()) throw Error("merge needs at least one shard file");
    check_output_file(out, false, "out");
    std::string key;
    int64_t count = 0;
    std::vector<bool> seen;
    std::vector<std::string> names;
    std::optional<SurfaceValues> merged;
    double seconds = 0;  // the shards' compute_seconds, summed (NaN when one lacks it)
    for (const auto& path : shards) {
        const Hdf5File shard(path, Hdf5File::Mode::read);
        require_format(shard, surface_format, surface_format_version);
        seconds += shard.has_attribute("/", "compute_seconds") ? shard.double_attribute("/", "compute_seconds") : NAN;
        if (shard.int_attribute("/", "complete") != 1)
            throw Error(fmt::format("{} is not a finished shard; rerun its command to complete it", path.string()));
        const Shard part = Shard::parse(shard.string_attribute("/", "shard"));
        if (!merged) {
            key = shard.string_attribute("/", "slice_key");
            count = part.count;
            seen.assign(static_cast<std::size_t>(count), false);
            names = value_names(surface_evaluations(shard),
                                shard.has_attribute("/", "gradient_variance_batches"));
            merged.emplace(shard.shape("completed"), names);
        } else if (shard.string_attribute("/", "slice_key") != key || part.count != count) {
            throw Error(fmt::format("{} was made with other settings (model, data, directions, grid or shard count) "
                                    "than {}; merge only shards of one surface command",
                                    path.string(), shards.front().string()));
        }
        SurfaceValues values(merged->shape, names);
        values.read_from(shard, names);
        const auto* completed = values.completed.data_ptr<uint8_t>();
        for (int64_t point = 0; point < values.completed.numel(); ++point)
            if (part.owns(point) && !completed[point])
                throw Error(fmt::format("{} is marked finished but its point {} was not computed; the file is damaged: "
                                        "delete it and rerun its shard",
                                        path.string(), point));
        const torch::Tensor mine = values.completed.to(torch::kBool);
        for (const auto& name : names)
            merged->values[name] = torch::where(mine, values.values[name], merged->values[name]);
        merged->completed = merged->completed.bitwise_or(values.completed);
        if (seen[static_cast<std::size_t>(part.index)])
            throw Error(fmt::format("{} is shard {} again: give each shard once", path.string(), part.spec()));
        seen[static_cast<std::size_t>(part.index)] = true;
    }
    std::vector<std::string> missing;
    for (int64_t i = 0; i < count; ++i)
        if (!seen[static_cast<std::size_t>(i)]) missing.push_back(Shard{i, count}.spec());
    if (!missing.empty())
        throw Error(fmt::format("shards {} are missing: compute them and merge all {} together",
                                fmt::join(missing, ", "), count));
    if (!merged->completed.to(torch::kBool).all().item<bool>())
        throw Error("the shards do not cover every point of the grid; merge only shards of one surface command");
    std::filesystem::path partial = out;
    partial += ".partial";
    try {
        std::filesystem::copy_file(shards.front(), partial, std::filesystem::copy_options::overwrite_existing);
        Hdf5File file(partial, Hdf5File::Mode::read_write);
        merged->write_to(file);
        write_basin_attributes(file, file.has_attribute("/", "basin_level") ? file.double_attribute("/", "basin_level")
                                                                            : default_basin_level);
        file.set_attribute("/", "shard", Shard{}.spec());
        file.set_attribute("/", "compute_seconds", seconds);
        file.set_attribute("/", "command", command);
        std::vector<std::string> sources;
        for (const auto& path : shards) sources.push_back(path.string());
        file.set_attribute("/", "merged_from", nlohmann::json(sources).dump());
        file.close();
    } catch (...) {  // a full disk, a file-size limit: no half-merged file stays behind (the error goes on as it was)
        std::error_code ignored;
        std::filesystem::remove(partial, ignored);
        throw;
    }
    std::filesystem::rename(partial, out);
}


}  // namespace cellscape
