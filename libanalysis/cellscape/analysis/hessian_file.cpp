#include "cellscape/analysis/hessian_file.hpp"

#include <fmt/format.h>

#include <initializer_list>
#include <utility>

#include "cellscape/util/error.hpp"

namespace cellscape {

std::string hessian_file::eigenvector_group(int64_t index) { return fmt::format("eigenvectors/{}", index); }

namespace {

torch::Tensor as_tensor(const std::vector<double>& values) { return torch::tensor(values, torch::kFloat64); }

torch::Tensor as_flags(const std::vector<bool>& flags) {
    const std::vector<int64_t> values(flags.begin(), flags.end());
    return torch::tensor(values, torch::kInt64).to(torch::kUInt8);
}

void write_eigenpairs(Hdf5File& file, const Objective& objective, const EigenResult& result, const std::string& prefix) {
    file.write(prefix + "eigenvalues", as_tensor(result.values));
    file.write(prefix + "ritz_values", as_tensor(result.ritz_values));
    file.write(prefix + "residuals", as_tensor(result.residuals));
    file.write(prefix + "error_estimates", as_tensor(result.error_estimates));
    file.write(prefix + "converged", as_flags(result.converged));
    file.set_attribute("/", prefix + "eigen_solver", std::string(name_of(result.solver)));
    file.set_attribute("/", prefix + "lanczos_stop", describe(result.stop));
    file.set_attribute("/", prefix + "lanczos_hvps", result.hessian_vector_products);
    if (!result.vectors.defined()) return;
    for (int64_t i = 0; i < result.vectors.size(1); ++i) {
        const auto parts = objective.unflatten(result.vectors.select(1, i).contiguous());
        for (std::size_t p = 0; p < parts.size(); ++p)
            file.write(fmt::format("{}{}/{}", prefix, hessian_file::eigenvector_group(i), objective.parameters()[p].first),
                       parts[p]);
    }
}

// The parts' table (docs/hdf5-schema.md): one row per part.
void write_parts(Hdf5File& file, const HessianReport& report) {
    std::vector<std::string> names;
    std::vector<int64_t> sizes, hvps, converged;
    std::vector<double> top;
    for (std::size_t b = 0; b < report.parts.size(); ++b) {
        names.push_back(report.parts[b].name);
        sizes.push_back(report.parts[b].size);
        if (b < report.part_top.size()) {
            top.push_back(report.part_top[b].values.at(0));
            converged.push_back(report.part_top[b].converged.at(0) ? 1 : 0);
            hvps.push_back(report.part_top[b].hessian_vector_products);
        }
    }
    file.write_strings(hessian_file::part_name, names);
    file.write(hessian_file::part_parameters, torch::tensor(sizes, torch::kInt64));
    if (!report.part_top.empty()) {
        file.write(hessian_file::part_top_eigenvalue, as_tensor(top));
        file.write("parts/top_converged", torch::tensor(converged, torch::kInt64));
        file.write("parts/top_hvps", torch::tensor(hvps, torch::kInt64));
    }
    if (report.trace && !report.trace->part_means.empty()) {
        file.write(hessian_file::part_trace, as_tensor(report.trace->part_means));
        file.write(hessian_file::part_trace_stderr, as_tensor(report.trace->part_standard_errors));
    }
}

// A parts table whose columns are not one value per part name is damaged:
// refused naming the file and the column, not read past its end.
void require_part_columns(const std::filesystem::path& path, std::size_t parts,
                          std::initializer_list<std::pair<const char*, std::size_t>> columns) {
    for (const auto& [column, size] : columns)
        if (size != parts)
            throw Hdf5Error(fmt::format("{}: its parts table has {} names but {} values in {}: the file is damaged",
                                        path.string(), parts, size, column));
}

std::vector<HessianFilePart> read_parts(const Hdf5File& file) {
    using namespace hessian_file;
    const auto names = file.read_strings(part_name);
    const auto parameters = file.read_doubles(part_parameters);
    const bool top = file.contains(part_top_eigenvalue), trace = file.contains(part_trace);
    const auto top_values = top ? file.read_doubles(part_top_eigenvalue) : std::vector<double>{};
    const auto trace_values = trace ? file.read_doubles(part_trace) : std::vector<double>{};
    const auto stderr_values = trace ? file.read_doubles(part_trace_stderr) : std::vector<double>{};
    require_part_columns(file.path(), names.size(),
                         {{part_parameters, parameters.size()},
                          {part_top_eigenvalue, top ? top_values.size() : names.size()},
                          {part_trace, trace ? trace_values.size() : names.size()},
                          {part_trace_stderr, trace ? stderr_values.size() : names.size()}});
    std::vector<HessianFilePart> parts;
    for (std::size_t i = 0; i < names.size(); ++i) {
        HessianFilePart part{names[i], static_cast<int64_t>(parameters[i])};
        if (top) part.top_eigenvalue = top_values[i];
        if (trace) {
            part.trace = trace_values[i];
            part.trace_stderr = stderr_values[i];
        }
        parts.push_back(part);
    }
    return parts;
}

}  // namespace

void write_hessian_file(const std::filesystem::path& path, const Objective& objective, const HessianReport& report,
                        const OutputRecord& record) {
    write_hdf5_atomically(path, [&](Hdf5File& file) {
        write_standard_attributes(file, hessian_format, hessian_format_version, record);
        objective.provenance().write_to(file);
        file.set_attribute("/", "loss", report.at_weights.loss);
        file.set_attribute("/", "accuracy", report.at_weights.accuracy);
        file.set_attribute("/", "hvp_count", report.hessian_vector_products);
        file.set_attribute("/", "seconds", report.seconds);
        if (report.top) write_eigenpairs(file, objective, *report.top, "");
        if (report.bottom) write_eigenpairs(file, objective, *report.bottom, "bottom_");
        if (report.trace) {
            file.set_attribute("/", hessian_file::trace, report.trace->mean);
            file.set_attribute("/", hessian_file::trace_stderr, report.trace->standard_error);
            file.set_attribute("/", "trace_converged", static_cast<int64_t>(report.trace->converged));
            file.set_attribute("/", "trace_seed", static_cast<int64_t>(report.trace->seed));
            file.write("trace_samples", as_tensor(report.trace->samples));
        }
        if (!report.parts.empty()) write_parts(file, report);
        if (report.density) {
            file.set_attribute("/", "density_sigma", report.density->sigma);
            file.set_attribute("/", "density_seed", static_cast<int64_t>(report.density->seed));
            file.write("density/grid", report.density->grid);
            file.write("density/density", report.density->density);
            file.write("density/nodes", report.density->nodes);
            file.write("density/weights", report.density->weights);
        }
    });
}

HessianFileValues read_hessian_file(const std::filesystem::path& path) {
    const Hdf5File file(path, Hdf5File::Mode::read);
    require_format(file, hessian_format, hessian_format_version);
    HessianFileValues values;
    if (file.contains(hessian_file::eigenvalues)) values.top_eigenvalue = file.read(hessian_file::eigenvalues)[0].item<double>();
    if (file.has_attribute("/", hessian_file::trace)) values.trace = file.double_attribute("/", hessian_file::trace);
    return values;
}

std::vector<HessianFilePart> read_hessian_parts(const std::filesystem::path& path) {
    const Hdf5File file(path, Hdf5File::Mode::read);
    require_format(file, hessian_format, hessian_format_version);
    return file.contains(hessian_file::part_name) ? read_parts(file) : std::vector<HessianFilePart>{};
}

}  // namespace cellscape
