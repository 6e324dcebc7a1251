#pragma once
// Loss surfaces (PAPER.md section 4): loss and accuracy, and optionally the
// mini-batch gradient variance, at the points w0 + a d1 (+ b d2) of a 1D or
// 2D grid in weight space. Points are written to a partial file as they
// finish, so a killed run continues where it stopped, and a run can compute
// one shard of the points for a Slurm array task; `merge_surface_shards`
// joins the shards into the file a single run writes.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analysis/objective.hpp"

namespace cellscape {

inline constexpr const char* surface_format = "cellscape-surface";

// One grid axis, from a MIN:MAX:NUM spec: NUM evenly spaced coordinates from
// MIN to MAX inclusive (NUM=1 needs MIN=MAX).
struct GridAxis {
    double min = 0, max = 0;
    int64_t count = 0;
    // `option` names the flag in errors ("--x").
    static GridAxis parse(const std::string& spec, const std::string& option);
    std::vector<double> coordinates() const;
    std::string spec() const;
};

// Share `index` of `count` (0-based): the points p with p mod count = index.
struct Shard {
    int64_t index = 0, count = 1;
    // "I/N"; an empty spec reads SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN)
    // and SLURM_ARRAY_TASK_COUNT when set, else the whole grid.
    static Shard parse(const std::string& spec);
    bool owns(int64_t point) const { return point % count == index; }
    std::string spec() const;
};

// How the directions are made.
struct DirectionRequest {
    // "random" (Gaussian, by seed), "hessian:FILE" (the top eigenvectors of a
    // Hessian file), "surface:FILE" (the directions of an earlier surface), or
    // "interpolate:CHECKPOINT" (1D: from the Objective's weights to these).
    std::string source = "random";
    std::string norm;  // filter, layer or none; empty: filter for random, none otherwise
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
};

// Builds the slice around the Objective's current weights.
SurfaceSlice make_surface_slice(const Objective& objective, const DirectionRequest& request, bool two_dimensional);

struct SurfaceRequest {
    GridAxis x;
    std::optional<GridAxis> y;
    Shard shard;
};

// What is evaluated at each point: loss and accuracy per named evaluation
// set ("train", "test"), and the gradient variance over the batches of a
// separate Objective. All share one model architecture and selection.
struct SurfaceObjectives {
    std::vector<std::pair<std::string, Objective*>> evaluations;
    Objective* gradient_variance = nullptr;
};

// The objectives of a surface loaded from one model source and owned here:
// one per evaluation set ("train", "test") with `options` but that split,
// and, when `gradient_variance_batches` is non-zero, K random training
// batches of `gradient_variance_batch_size`.
struct LoadedSurfaceObjectives {
    std::vector<std::unique_ptr<Objective>> owned;
    SurfaceObjectives objectives;
};
LoadedSurfaceObjectives load_surface_objectives(const ObjectiveSource& source, const ObjectiveOptions& options,
                                                const std::vector<std::string>& evaluations,
                                                int64_t gradient_variance_batches,
                                                int64_t gradient_variance_batch_size);

struct SurfaceRun {
    std::filesystem::path file;  // the finished file (or the partial one, when not complete)
    int64_t grid_points = 0, shard_points = 0, computed = 0, resumed = 0, non_finite = 0;
    double seconds = 0, seconds_per_point = 0;
    bool complete = false;
};

// Computes the shard's points not yet in `out` + ".partial" (creating it
// when absent) and renames it onto `out` when all are done. An interrupt
// (SIGINT/SIGTERM) stops after the current point and throws Interrupted.
SurfaceRun compute_surface(const SurfaceObjectives& objectives, const SurfaceSlice& slice,
                           const SurfaceRequest& request, const std::filesystem::path& out,
                           const std::string& command);

// Joins shard files (same slice, grid and evaluations; together every point)
// into the file a single run writes.
void merge_surface_shards(const std::filesystem::path& out, const std::vector<std::filesystem::path>& shards,
                          const std::string& command);

}  // namespace cellscape
