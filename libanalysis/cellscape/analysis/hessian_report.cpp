#include "cellscape/analysis/hessian_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {
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

HessianJob resolve_hessian(const HessianSettings& settings, const AnalysisContext& context) {
    HessianJob run{context.training_samples(settings.samples),
                   context.objective_options(settings.batch_size, settings.bn), settings.request};
    HessianRequest& request = run.request;
    request.trace_options.min_probes = std::min<int64_t>(10, request.trace_options.max_probes);
    request.trace_options.seed = request.density_options.seed = context.seed;
    run.samples.validate();
    run.objective.validate();
    if (request.top.count < 1) throw SettingError("top_k", "must be at least 1 (or disable the analysis)");
    if (request.trace && request.trace_options.max_probes < 2)
        throw SettingError("trace_max_probes",
                           fmt::format("must be at least 2 (got {})", request.trace_options.max_probes));
    request.validate();
    return run;
}

nlohmann::ordered_json hessian_settings_json(const HessianJob& run) {
    const HessianRequest& request = run.request;
    const EigenOptions& top = request.top;
    nlohmann::ordered_json settings = {{"samples", run.samples.samples},
                                       {"batch_size", run.objective.batch_size},
                                       {"top_k", top.count},
                                       {"tol", top.tol},
                                       {"ncv", top.ncv},
                                       {"trace", request.trace},
                                       {"trace_max_probes", request.trace_options.max_probes},
                                       {"trace_rtol", request.trace_options.rtol},
                                       {"density", request.density},
                                       {"slq_steps", request.density_options.steps},
                                       {"slq_runs", request.density_options.runs}};
    add_evaluation_settings(settings, run.samples, run.objective);
    const EigenOptions defaults;
    if (top.solver != defaults.solver) settings["solver"] = name_of(top.solver);
    if (request.parts) settings["by_part"] = name_of(*request.parts);
    if (request.bottom.count > 0) settings["bottom_k"] = request.bottom.count;
    if (top.max_hvps != defaults.max_hvps) settings["max_hvps"] = top.max_hvps;
    if (top.min_hvps != defaults.min_hvps) settings["min_hvps"] = top.min_hvps;
    if (top.max_seconds != defaults.max_seconds) settings["max_seconds"] = top.max_seconds;
    if (top.keep_vectors) settings["eigenvectors"] = true;
    if (request.density_options.sigma != DensityOptions{}.sigma) settings["slq_sigma"] = request.density_options.sigma;
    return settings;
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
