#pragma once
// How a study's [analysis.surface] table asks for loss surfaces
// (read_surface_settings): the grid as MIN:MAX:NUM text, the splits each
// point is evaluated on, the samples, the optional gradient variance per
// point, the basin level and how many independent direction pairs.
// Torch-free, so a config can hold it; analysis/surface.hpp resolves it
// into what runs and records it.
#include <cstdint>
#include <string>
#include <vector>

#include "cellscape/analysis/objective_settings.hpp"

namespace cellscape {

class TomlTable;

struct SurfaceSettings {
    bool enabled = true;
    std::string x = "-1:1:11", y = "-1:1:11";  // MIN:MAX:NUM (GridAxis); y empty: 1D
    std::vector<Split> evaluations{Split::test};
    int64_t samples = 500, batch_size = 64;
    bool gradient_variance = false;
    int64_t gv_batches = 5, gv_batch_size = 64;
    Split gv_split = Split::train;              // the samples of the gradient variance
    BatchNormMode gv_bn = BatchNormMode::eval;  // and BatchNorm's mode for it
    // Basin metrics cut the slice at this multiple of the origin's loss
    // (analysis/basin.hpp).
    double basin_level = 2.0;
    // Independent direction pairs (slices) per replicate and analysis epoch;
    // pair k draws its directions with seed analysis.seed + k.
    int64_t direction_pairs = 1;
};

// Reads the table's keys (enabled, x, y, eval, samples, batch_size,
// gradient_variance, gv_batches, gv_batch_size, gv_split, gv_bn,
// basin_level, direction_pairs) into `settings`; unknown keys, wrong types,
// a basin_level not above 1 and direction_pairs outside 1 to 100 are errors
// naming the key. The grid and the evaluations are judged by resolve_surface.
void read_surface_settings(TomlTable& table, SurfaceSettings& settings);

}  // namespace cellscape
