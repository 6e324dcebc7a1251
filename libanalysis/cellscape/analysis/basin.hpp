#pragma once
// How large the basin around a surface's origin is (docs/science.md section
// 6): the two numbers the paper's contour figures compare by eye. Torch-free,
// on a surface's loss grid as stored in its file (row-major, y then x).
#include <cmath>
#include <cstdint>
#include <vector>

namespace cellscape {

// The level a basin is cut at: `level` times the loss at the origin.
inline constexpr double default_basin_level = 2.0;

struct BasinMetrics {
    // Grid points whose loss is at most level x the origin's, over all grid
    // points (a non-finite loss counts as outside).
    double fraction = 0;
    // The median over 8 rays from the origin (+-x, +-y and the four grid
    // diagonals in index space; 2 rays on a 1D grid) of the distance, in the
    // slice's coordinates, at which the loss first exceeds the level,
    // interpolated linearly between the last grid point inside and the first
    // outside. A ray that stays inside to the grid's edge counts at the edge
    // (a lower bound): `rays_inside` says how many did.
    double radius = 0;
    int64_t rays = 0, rays_inside = 0;
    double origin_loss = 0;
};

// `loss` holds ys.size() x xs.size() values (ys = {0} for a 1D surface).
// NaN metrics when no grid point is the origin (a coordinate within 1e-9 of
// the axis's span from 0 on every axis) or the origin's loss is not finite
// and positive. level must exceed 1.
BasinMetrics basin_metrics(const std::vector<double>& loss, const std::vector<double>& xs,
                           const std::vector<double>& ys, double level = default_basin_level);

}  // namespace cellscape
