#include "cellscape/analysis/surface_settings.hpp"

#include <fmt/format.h>

#include <cmath>

#include "cellscape/io/toml_table.hpp"

namespace cellscape {

void read_surface_settings(TomlTable& table, SurfaceSettings& settings) {
    table.read("enabled", settings.enabled);
    table.read("x", settings.x);
    table.read("y", settings.y);
    table.read_names("eval", settings.evaluations);
    table.read("samples", settings.samples);
    table.read("batch_size", settings.batch_size);
    table.read("gradient_variance", settings.gradient_variance);
    table.read("gv_batches", settings.gv_batches);
    table.read("gv_batch_size", settings.gv_batch_size);
    table.read_name("gv_split", settings.gv_split);
    table.read_name("gv_bn", settings.gv_bn);
    table.read("basin_level", settings.basin_level);
    if (!(settings.basin_level > 1) || !std::isfinite(settings.basin_level))
        throw table.error("basin_level", fmt::format("must be a number above 1, a multiple of the loss at the "
                                                     "origin (got {}); the default is 2",
                                                     settings.basin_level));
    table.read("direction_pairs", settings.direction_pairs);
    if (settings.direction_pairs < 1 || settings.direction_pairs > 100)
        throw table.error("direction_pairs",
                          fmt::format("must be between 1 and 100 (got {})", settings.direction_pairs));
    table.reject_unknown_keys();
}

}  // namespace cellscape
