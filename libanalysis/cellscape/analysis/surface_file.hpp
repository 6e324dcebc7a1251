#pragma once
// The surface file (docs/hdf5-schema.md, "cellscape surface"): its format
// name and version, the names of its grids and per-point datasets, the
// per-point values as they are saved and read back while points finish,
// the basin attributes of a finished surface, and the typed reader of its
// basin, side by side. compute_surface and merge_surface_shards
// (surface.hpp; the slice's own attributes, written once, are its
// write_slice_file) write it through these names; the study's tables read
// it through read_surface_basin.
#include <fmt/format.h>
#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cellscape/analysis/basin.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {

inline constexpr const char* surface_format = "cellscape-surface";
inline constexpr int64_t surface_format_version = 1;

// The names of what cellscape reads back (docs/hdf5-schema.md lists them all).
namespace surface_file {
inline constexpr const char* xcoordinates = "xcoordinates";
inline constexpr const char* ycoordinates = "ycoordinates";  // 2D only
inline constexpr const char* completed = "completed";        // 1 where a point is computed
inline constexpr const char* evaluations = "evaluations";    // attribute: the splits, comma-separated
inline std::string loss(const std::string& split) { return split + "_loss"; }
inline std::string accuracy(const std::string& split) { return split + "_acc"; }
}  // namespace surface_file

// The splits a surface file evaluates, in file order (never empty: an empty
// attribute is one empty name, which names no dataset).
std::vector<std::string> surface_evaluations(const Hdf5File& file);

// The names of the per-point datasets, in file order.
std::vector<std::string> value_names(const std::vector<std::string>& evaluations, bool gradient_variance);

// The in-memory copy of a surface file's per-point datasets and mask.
struct SurfaceValues {
    std::vector<int64_t> shape;  // {nx} or {ny, nx}
    std::map<std::string, torch::Tensor> values;  // float64, flat
    torch::Tensor completed;  // uint8, flat

    // No point computed yet: NaN everywhere, nothing completed.
    SurfaceValues(std::vector<int64_t> grid_shape, const std::vector<std::string>& names)
        : shape(std::move(grid_shape)) {
        int64_t points = 1;
        for (int64_t size : shape) points *= size;
        for (const auto& name : names) values[name] = torch::full({points}, NAN, torch::kFloat64);
        completed = torch::zeros({points}, torch::kUInt8);
    }

    void write_to(Hdf5File& file) const {
        for (const auto& [name, tensor] : values) file.write(name, tensor.view(shape));
        file.write(surface_file::completed, completed.view(shape));
    }
    // Error naming the file and the dataset when one is missing or has another shape.
    void read_from(const Hdf5File& file, const std::vector<std::string>& names) {
        for (const auto& name : names) {
            if (!file.contains(name) || file.shape(name) != shape)
                throw Error(fmt::format("{}: dataset {} is missing or has the wrong shape; the file is damaged, delete "
                                        "it to start over",
                                        file.path().string(), name));
            values[name] = file.read(name).to(torch::kFloat64).reshape({-1});
        }
        completed = file.read(surface_file::completed).to(torch::kUInt8).reshape({-1});
    }
};

// The key of a slice's description (compute_surface): equal keys, equal slices.
std::string slice_key(const nlohmann::ordered_json& description);

// Each evaluated split's basin metrics, as attributes of a complete surface.
void write_basin_attributes(Hdf5File& file, double level);

// The basin metrics of a finished surface file at `level`, from the test
// split's loss when the surface has it, else the first evaluated split's.
// Hdf5Error naming the file and both versions when it is not a surface
// file this build reads.
struct SurfaceBasin {
    std::string split;
    BasinMetrics metrics;
};
SurfaceBasin read_surface_basin(const std::filesystem::path& path, double level);

}  // namespace cellscape
