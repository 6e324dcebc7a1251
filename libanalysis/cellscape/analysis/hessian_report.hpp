#pragma once
// One `cellscape hessian` run: which spectral quantities to compute, the
// results, their HDF5 file (docs/hdf5-schema.md) and JSON summary.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/analysis/hessian.hpp"

namespace cellscape {

inline constexpr const char* hessian_format = "cellscape-hessian";
inline constexpr int64_t hessian_format_version = 1;

struct HessianRequest {
    EigenOptions top;        // count 0: skip
    EigenOptions bottom = skipped();  // count 0: skip (the default)
    bool trace = false;
    TraceOptions trace_options;
    bool density = false;
    DensityOptions density_options;
    // Curvature by part (parameter_parts.hpp): with a level, the top
    // eigenvalue of each part's diagonal block (top's options, one
    // eigenvalue) when top.count > 0, and each part's share of the trace
    // (from the trace's own probes) when trace.
    std::optional<PartLevel> parts;
    // SettingError for settings no analysis can use (before any model is
    // loaded); "top_k" and "bottom_k" for the two counts.
    void validate() const;

private:
    static EigenOptions skipped() {
        EigenOptions none;
        none.count = 0;
        return none;
    }
};

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

void write_hessian_file(const std::filesystem::path& path, const Objective& objective, const HessianReport& report,
                        const OutputRecord& record);

// {"eigenvalues": [...], "residuals": [...], "converged": [...], "bottom_eigenvalues": ..., "hvp_count": n,
//  "trace": t, "trace_stderr": s, "seconds": x, "loss": l, "accuracy": a, "parameters": n}
nlohmann::ordered_json hessian_json(const Objective& objective, const HessianReport& report);

}  // namespace cellscape
