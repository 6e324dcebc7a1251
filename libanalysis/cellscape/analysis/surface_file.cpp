#include "cellscape/analysis/surface_file.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cellscape/util/error.hpp"
#include "cellscape/util/hash.hpp"
#include "cellscape/util/text.hpp"

namespace cellscape {

std::vector<std::string> surface_evaluations(const Hdf5File& file) {
    // Empty fields included: a damaged attribute then names a dataset that is not there, and is refused.
    return split_fields(file.string_attribute("/", surface_file::evaluations), ',');
}

// The names of the per-point datasets, in file order.
std::vector<std::string> value_names(const std::vector<std::string>& evaluations, bool gradient_variance) {
    std::vector<std::string> names;
    for (const auto& evaluation : evaluations) {
        names.push_back(surface_file::loss(evaluation));
        names.push_back(surface_file::accuracy(evaluation));
    }
    if (gradient_variance)
        for (const char* name : {"gradient_variance", "gradient_norm", "noise_scale"}) names.emplace_back(name);
    return names;
}

std::string slice_key(const nlohmann::ordered_json& description) {
    Fnv1a hash;
    hash.add(description.dump());
    return hash.hex();
}

namespace {


// The basin metrics of one evaluated split's loss grid in a surface file.
BasinMetrics split_basin(const Hdf5File& file, const std::string& split_name, double level) {
    const std::vector<double> ys =
        file.contains(surface_file::ycoordinates) ? file.read_doubles(surface_file::ycoordinates) : std::vector<double>{0.0};
    return basin_metrics(file.read_doubles(surface_file::loss(split_name)), file.read_doubles(surface_file::xcoordinates),
                         ys, level);
}

}  // namespace

void write_basin_attributes(Hdf5File& file, double level) {
    file.set_attribute("/", "basin_level", level);
    for (const auto& name : surface_evaluations(file)) {
        const BasinMetrics basin = split_basin(file, name, level);
        file.set_attribute("/", name + "_basin_fraction", basin.fraction);
        file.set_attribute("/", name + "_basin_radius", basin.radius);
        file.set_attribute("/", name + "_basin_rays_inside", basin.rays_inside);
    }
}

SurfaceBasin read_surface_basin(const std::filesystem::path& path, double level) {
    const Hdf5File file(path, Hdf5File::Mode::read);
    require_format(file, surface_format, surface_format_version);
    const std::vector<std::string> splits = surface_evaluations(file);
    SurfaceBasin basin;
    basin.split = std::find(splits.begin(), splits.end(), "test") != splits.end() ? "test" : splits.front();
    basin.metrics = split_basin(file, basin.split, level);
    return basin;
}

}  // namespace cellscape
