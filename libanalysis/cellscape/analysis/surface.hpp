#pragma once
// Loss surfaces (docs/science.md section 4): loss and accuracy, and optionally the
// mini-batch gradient variance, at the points w0 + a d1 (+ b d2) of a 1D or
// 2D grid in weight space. Points are written to a partial file as they
// finish, so a killed run continues where it stopped, and a run can compute
// one shard of the points for a Slurm array task; `merge_surface_shards`
// joins the shards into the file a single run writes. The file itself is
// analysis/surface_file.hpp.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/analysis/directions.hpp"
#include "cellscape/analysis/basin.hpp"
#include "cellscape/analysis/objective.hpp"
#include "cellscape/analysis/surface_settings.hpp"
#include "cellscape/util/names.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {


// One grid axis, from a MIN:MAX:NUM spec: NUM evenly spaced coordinates from
// MIN to MAX inclusive (NUM=1 needs MIN=MAX).
struct GridAxis {
    static constexpr int64_t most_points = 100000;
    double min = 0, max = 0;
    int64_t count = 0;
    // SettingError naming `setting` (e.g. "x") for anything but MIN:MAX:NUM
    // with MIN < MAX (or MIN = MAX for NUM = 1) and 1 <= NUM <= most_points.
    static GridAxis parse(const std::string& spec, const std::string& setting);
    std::vector<double> coordinates() const;
    std::string spec() const;
};

// Share `index` of `count` (0-based): the points p with p mod count = index.
struct Shard {
    int64_t index = 0, count = 1;
    // "I/N" (SettingError "shard" otherwise); an empty spec is the whole grid.
    static Shard parse(const std::string& spec);
    // The shard of a Slurm array task, from the values of its
    // SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT and SLURM_ARRAY_TASK_MIN
    // (null when unset): task ID - MIN of COUNT; the whole grid without an
    // ID. The library never reads the environment; the program passes them.
    static Shard from_slurm_array(const char* id, const char* count, const char* minimum);
    bool owns(int64_t point) const { return point % count == index; }
    std::string spec() const;
};

// Where the directions come from.
enum class DirectionSource {
    random,       // Gaussian, by seed
    hessian,      // the top eigenvectors of a Hessian file
    surface,      // the directions of an earlier surface file
    interpolate,  // 1D: from the Objective's weights to a checkpoint's
};
template <>
struct EnumNames<DirectionSource> {
    static constexpr std::array<std::pair<std::string_view, DirectionSource>, 4> values{
        {{"random", DirectionSource::random},
         {"hessian", DirectionSource::hessian},
         {"surface", DirectionSource::surface},
         {"interpolate", DirectionSource::interpolate}}};
};

// How the directions are made.
struct DirectionRequest {
    DirectionSource source = DirectionSource::random;
    std::filesystem::path file;  // the Hessian file, surface file or checkpoint of the other sources
    // Unset: filter for random directions, none for the others (earlier
    // surfaces' and interpolations' must not be normalized).
    std::optional<DirectionNorm> norm;
    bool ignore_bias_and_bn = true;
    uint64_t seed = 0;
};

// The slice of weight space a surface lies in.
struct SurfaceSlice {
    NamedTensors origin;  // w0, a copy
    NamedTensors x_direction, y_direction;  // y empty for 1D
    // Interpolations also move the floating-point buffers (BatchNorm running
    // statistics) along x, so that x = 1 is the target model in eval mode too.
    NamedTensors buffer_origin, buffer_x_direction;
    std::string source, norm;
    std::optional<uint64_t> seed;  // of random directions (the file's @directions_seed)
};

// Builds the slice around the Objective's current weights.
SurfaceSlice make_surface_slice(const Objective& objective, const DirectionRequest& request, bool two_dimensional);

struct SurfaceRequest {
    static constexpr int64_t most_points = 1000000;
    GridAxis x;
    std::optional<GridAxis> y;
    Shard shard;
    bool overwrite = false;  // replace an existing output file (once the new one is complete)
    // The finished surface's basin metrics cut at this multiple of the
    // origin's loss (analysis/basin.hpp); SettingError "basin_level" unless > 1.
    double basin_level = default_basin_level;
    // SettingError "y" when the grid has more than most_points points.
    void validate() const;
};

// What is evaluated at each point: loss and accuracy per named evaluation
// set ("train", "test"), and the gradient variance over the batches of a
// separate Objective. All share one model architecture and selection.
struct SurfaceObjectives {
    std::vector<std::pair<std::string, Objective*>> evaluations;
    Objective* gradient_variance = nullptr;
};

// What the points of a surface evaluate: the loss and accuracy on these
// splits, and (with batches >= 2; 0: none) the gradient variance over that
// many random batches of one split, in one BatchNorm mode.
struct SurfaceEvaluations {
    std::vector<Split> splits{Split::test};
    int64_t gradient_variance_batches = 0;
    int64_t gradient_variance_batch_size = 128;
    Split gradient_variance_split = Split::train;
    BatchNormMode gradient_variance_bn_mode = BatchNormMode::eval;
    // SettingError "evaluations", "gradient_variance_batches", ...
    void validate() const;
};

// The objectives of a surface loaded from one model source and owned here:
// one per evaluation split with `options` but that split, and the gradient
// variance's.
struct LoadedSurfaceObjectives {
    std::vector<std::unique_ptr<Objective>> owned;
    SurfaceObjectives objectives;
};
LoadedSurfaceObjectives load_surface_objectives(const ObjectiveSource& source, const EvaluationSamples& samples,
                                                const ObjectiveOptions& options, const SurfaceEvaluations& evaluations);

// Surfaces as they run: the samples and Objective options of the
// evaluations, what each point evaluates, and the grid, with the grid's
// text as the user wrote it (what files record).
struct SurfaceJob {
    EvaluationSamples samples;
    ObjectiveOptions objective;
    SurfaceEvaluations evaluations;
    SurfaceRequest request;
    std::string x, y;  // MIN:MAX:NUM as given; y empty for 1D
};

// A study's surface settings made into what runs in `context` (samples
// chosen by its seed). SettingError naming the [analysis.surface] key for a
// grid, split list or gradient variance no surface can use.
SurfaceJob resolve_surface(const SurfaceSettings& settings, const AnalysisContext& context);

// The settings a surface file records as its "settings" attribute, for the
// study's files and the surface command's: x, y, eval, samples, batch_size,
// gradient_variance, and with the gradient variance gv_batches,
// gv_batch_size, gv_split, gv_bn; only when not the default, bn, split,
// sampling, dtype. The seed is the caller's to record.
nlohmann::ordered_json surface_settings_json(const SurfaceJob& job);

struct SurfaceRun {
    std::filesystem::path file;  // the finished file (or the partial one, when not complete)
    int64_t grid_points = 0, shard_points = 0, computed = 0, resumed = 0, non_finite = 0;
    // The whole run (the slice's file, the points, the finished file), and
    // the points alone per point computed (evaluating and saving each).
    double seconds = 0, seconds_per_point = 0;
    bool complete = false;
};

// Computes the shard's points not yet in `out` + ".partial" (creating it
// when absent) and renames it onto `out` when all are done. An interrupt
// (SIGINT/SIGTERM, while the caller holds an InterruptGuard) stops after the
// current point and throws Interrupted.
// The objectives' weights and buffers are back at the slice's origin on
// every way out. An existing `out` is this surface finished (returned as it
// is), or refused unless the request overwrites it. Unfinished work is
// kept in OUT.partial (the slice) and OUT.points (the values so far).
SurfaceRun compute_surface(const SurfaceObjectives& objectives, const SurfaceSlice& slice,
                           const SurfaceRequest& request, const std::filesystem::path& out,
                           const OutputRecord& record, ProgressSink* progress = nullptr);

// Joins shard files (same slice, grid and evaluations; together every point)
// into the file a single run writes.
void merge_surface_shards(const std::filesystem::path& out, const std::vector<std::filesystem::path>& shards,
                          const std::string& command);


}  // namespace cellscape
