#pragma once
// One `cellscape hessian` run: which spectral quantities to compute, the
// results and their JSON summary; their file is analysis/hessian_file.hpp.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/analysis/hessian.hpp"

namespace cellscape {


// A Hessian analysis as it runs: the samples and the Objective it is taken
// of, and what it computes.
struct HessianJob {
    EvaluationSamples samples;
    ObjectiveOptions objective;
    HessianRequest request;
};

// A study's Hessian settings made into what runs in `context`: the
// analysis seed seeds the samples, the trace's probes and the density's
// starting vectors; the trace stops no earlier than 10 probes (or its whole
// budget, when smaller). SettingError naming the [analysis.hessian] key for
// a value no run can use (top_k below 1 included: disable the analysis).
HessianJob resolve_hessian(const HessianSettings& settings, const AnalysisContext& context);

// The settings a Hessian file records as its "settings" attribute, the one
// record of both the study's files and the hessian command's: samples,
// batch_size, top_k, tol, ncv, trace, trace_max_probes, trace_rtol, density,
// slq_steps, slq_runs; and, only when not the default (so earlier files
// still compare equal), bn, split, sampling, dtype, solver, by_part,
// bottom_k, max_hvps, min_hvps, max_seconds, eigenvectors, slq_sigma. The
// seed is the caller's to record (a study's "analysis_seed").
nlohmann::ordered_json hessian_settings_json(const HessianJob& run);

struct HessianReport {
    LossAndAccuracy at_weights;
    std::optional<EigenResult> top, bottom;
    std::optional<TraceResult> trace;
    std::optional<DensityResult> density;
    std::vector<ParameterPart> parts;  // with HessianRequest::parts
    std::vector<EigenResult> part_top;  // per part, when the top eigenvalues were asked for
    int64_t hessian_vector_products = 0;
    double seconds = 0;
};

// Runs the request; progress per HVP or probe, and a note with each result.
HessianReport analyse_hessian(Objective& objective, const HessianRequest& request, ProgressSink* progress = nullptr);

// A sentence when a top or bottom solve stopped at its budget before every
// eigenvalue met the tolerance (those are NaN in the results), with the
// estimates it reached; nothing when all converged.
std::optional<std::string> unmet_tolerance(const HessianReport& report, const HessianRequest& request);


// {"eigenvalues": [...], "residuals": [...], "converged": [...], "bottom_eigenvalues": ..., "hvp_count": n,
//  "trace": t, "trace_stderr": s, "seconds": x, "loss": l, "accuracy": a, "parameters": n}
nlohmann::ordered_json hessian_json(const Objective& objective, const HessianReport& report);

}  // namespace cellscape
