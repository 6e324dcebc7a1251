#include "cellscape/analysis/hessian_settings.hpp"

#include "cellscape/io/toml_table.hpp"

namespace cellscape {

HessianRequest HessianSettings::study_request() {
    HessianRequest request;
    request.trace = true;
    request.trace_options.max_probes = 30;
    request.trace_options.rtol = 0.05;
    request.density_options.steps = 30;
    request.density_options.runs = 3;
    return request;
}

void read_hessian_settings(TomlTable& table, HessianSettings& settings) {
    HessianRequest& request = settings.request;
    table.read("enabled", settings.enabled);
    table.read("top_k", request.top.count);
    table.read("tol", request.top.tol);
    table.read("ncv", request.top.ncv);
    table.read("trace", request.trace);
    table.read("trace_max_probes", request.trace_options.max_probes);
    table.read("trace_rtol", request.trace_options.rtol);
    table.read("density", request.density);
    table.read("slq_steps", request.density_options.steps);
    table.read("slq_runs", request.density_options.runs);
    table.read("samples", settings.samples);
    table.read("batch_size", settings.batch_size);
    table.read_name("bn", settings.bn);
    table.read_name("solver", request.top.solver);
    table.read_name("by_part", request.parts);
    table.reject_unknown_keys();
}

}  // namespace cellscape
