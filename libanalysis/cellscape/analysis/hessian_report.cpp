#include "cellscape/analysis/hessian_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {
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
            file.write(fmt::format("{}eigenvectors/{}/{}", prefix, i, objective.parameters()[p].first), parts[p]);
    }
}

}  // namespace

void HessianRequest::validate() const {
    if (top.count < 0) throw SettingError("top_k", fmt::format("must not be negative (got {})", top.count));
    if (bottom.count < 0) throw SettingError("bottom_k", fmt::format("must not be negative (got {})", bottom.count));
    if (top.count > 0) top.validate("top_k");
    if (bottom.count > 0) bottom.validate("bottom_k");
    if (trace) trace_options.validate();
    if (density) density_options.validate();
    if (parts && top.count == 0 && !trace)
        throw SettingError("by_part", "needs the top eigenvalue or the trace to split by part (top_k >= 1 or trace)");
}

namespace {

std::vector<ParameterPart> objective_parts(const Objective& objective, PartLevel level) {
    std::vector<std::pair<std::string, int64_t>> sizes;
    for (const auto& [name, tensor] : objective.parameters()) sizes.emplace_back(name, tensor.numel());
    return parameter_parts(sizes, level);
}

}  // namespace

HessianReport analyse_hessian(Objective& objective, const HessianRequest& request, ProgressSink* progress) {
    request.validate();
    const auto start = std::chrono::steady_clock::now();
    const ProgressTask notes(progress, "hessian", 0, "HVPs");
    HessianReport report;
    const bool eigenvalues = request.top.count > 0 || request.bottom.count > 0;
    report.at_weights = eigenvalues ? objective.loss_and_accuracy_keeping_graphs() : objective.loss_and_accuracy();
    const int64_t before = objective.hvp_count();
    for (const bool top : {true, false}) {
        const EigenOptions& options = top ? request.top : request.bottom;
        if (options.count == 0) continue;
        auto result = hessian_extreme_eigenpairs(objective, options, top, progress);
        notes.note(fmt::format("{} eigenvalues: {:.6g} ({} HVPs, {})", top ? "top" : "bottom",
                               fmt::join(result.values, ", "), result.hessian_vector_products, describe(result.stop)));
        (top ? report.top : report.bottom) = std::move(result);
    }
    if (request.parts) report.parts = objective_parts(objective, *request.parts);
    if (request.parts && request.top.count > 0) {
        EigenOptions options = request.top.in_current_names();
        options.count = 1;
        for (const ParameterPart& part : report.parts)
            report.part_top.push_back(hessian_block_eigenpairs(objective, part, options, true, progress));
    }
    if (request.trace) {
        TraceOptions trace_options = request.trace_options;
        trace_options.parts = report.parts;
        report.trace = hutchinson_trace(objective, trace_options, progress);
        notes.note(fmt::format("trace: {:.6g} +- {:.2g} ({} probes{})", report.trace->mean,
                               report.trace->standard_error, report.trace->samples.size(),
                               report.trace->converged ? "" : ", the probe budget ran out before the relative tolerance"));
    }
    if (request.density) {
        report.density = spectral_density(objective, request.density_options, progress);
    }
    objective.release_kept_graphs();  // their memory is the caller's again
    report.hessian_vector_products = objective.hvp_count() - before;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
}

namespace {

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
    file.write_strings("parts/name", names);
    file.write("parts/parameters", torch::tensor(sizes, torch::kInt64));
    if (!report.part_top.empty()) {
        file.write("parts/top_eigenvalue", as_tensor(top));
        file.write("parts/top_converged", torch::tensor(converged, torch::kInt64));
        file.write("parts/top_hvps", torch::tensor(hvps, torch::kInt64));
    }
    if (report.trace && !report.trace->part_means.empty()) {
        file.write("parts/trace", as_tensor(report.trace->part_means));
        file.write("parts/trace_stderr", as_tensor(report.trace->part_standard_errors));
    }
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
            file.set_attribute("/", "trace", report.trace->mean);
            file.set_attribute("/", "trace_stderr", report.trace->standard_error);
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

std::optional<std::string> unmet_tolerance(const HessianReport& report, const HessianRequest& request) {
    std::string text;
    for (const bool top : {true, false}) {
        const auto& result = top ? report.top : report.bottom;
        if (!result || result->stop == LanczosStop::converged) continue;
        const EigenOptions options = (top ? request.top : request.bottom).in_current_names();
        std::vector<std::string> estimates;
        for (std::size_t i = 0; i < result->ritz_values.size(); ++i)
            estimates.push_back(fmt::format("{:.8g} (error estimate {:.1e}{})", result->ritz_values[i],
                                            result->error_estimates[i], result->converged[i] ? ", met" : ""));
        text += fmt::format("{}the {} eigenvalues did not all reach the tolerance {:g} ({} after {} HVPs); the "
                            "estimates reached: {}",
                            text.empty() ? "" : "; ", top ? "top" : "bottom", options.tol, describe(result->stop),
                            result->hessian_vector_products, fmt::join(estimates, ", "));
    }
    if (text.empty()) return std::nullopt;
    return text;
}

nlohmann::ordered_json hessian_json(const Objective& objective, const HessianReport& report) {
    nlohmann::ordered_json out;
    auto finite_or_null = [](const std::vector<double>& values) {
        nlohmann::json list = nlohmann::json::array();
        for (double v : values) list.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
        return list;
    };
    for (const bool top : {true, false}) {
        const auto& result = top ? report.top : report.bottom;
        if (!result) continue;
        const std::string prefix = top ? "" : "bottom_";
        out[prefix + "eigenvalues"] = finite_or_null(result->values);
        out[prefix + "ritz_values"] = finite_or_null(result->ritz_values);
        out[prefix + "residuals"] = finite_or_null(result->residuals);
        out[prefix + "error_estimates"] = finite_or_null(result->error_estimates);
        out[prefix + "converged"] = result->converged;
        out[prefix + "lanczos_stop"] = describe(result->stop);
        out[prefix + "lanczos_hvps"] = result->hessian_vector_products;
    }
    if (report.trace) {
        out["trace"] = report.trace->mean;
        out["trace_stderr"] = report.trace->standard_error;
        out["trace_probes"] = report.trace->samples.size();
    }
    if (!report.parts.empty()) {
        nlohmann::ordered_json parts = nlohmann::json::array();
        for (std::size_t b = 0; b < report.parts.size(); ++b) {
            nlohmann::ordered_json part{{"name", report.parts[b].name}, {"parameters", report.parts[b].size}};
            if (b < report.part_top.size()) {
                part["top_eigenvalue"] = finite_or_null(report.part_top[b].values)[0];
                part["top_hvps"] = report.part_top[b].hessian_vector_products;
            }
            if (report.trace && !report.trace->part_means.empty()) {
                part["trace"] = report.trace->part_means[b];
                part["trace_stderr"] = finite_or_null({report.trace->part_standard_errors[b]})[0];
            }
            parts.push_back(part);
        }
        out["parts"] = parts;
    }
    if (report.density) out["density_sigma"] = report.density->sigma;
    out["hvp_count"] = report.hessian_vector_products;
    out["seconds"] = report.seconds;
    out["loss"] = report.at_weights.loss;
    out["accuracy"] = report.at_weights.accuracy;
    out["parameters"] = objective.dimension();
    out["samples"] = objective.sample_count();
    return out;
}

}  // namespace cellscape
