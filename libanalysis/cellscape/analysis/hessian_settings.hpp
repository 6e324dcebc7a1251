#pragma once
// What a Hessian analysis computes (the request: eigenpairs, trace,
// density, parts) and how a study's [analysis.hessian] table states it
// (HessianSettings, read by read_hessian_settings). Torch-free, so a config
// can hold it cheaply; analysis/hessian_report.hpp runs it and records it.
//
// Adding a setting: a field here (or in one of the options), its key in
// read_hessian_settings (hessian_settings.cpp), its key in the settings a
// file records (hessian_settings_json, hessian_report.cpp), docs/study.md
// and docs/analysis.md. Nothing in study/ names a Hessian setting.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/analysis/objective_settings.hpp"
#include "cellscape/analysis/parameter_parts.hpp"

namespace cellscape {

class TomlTable;

// Each setting has one name, in C++ as on the command line, in a study's
// TOML and in the files: tol and ncv as in ARPACK, Spectra and scipy's
// eigsh. The names of cellscape 0.2 are still accepted, with the compiler's
// deprecation warning, until 0.4.
// (The pragmas keep the implicitly defined copies of these structs quiet;
// only code that names a deprecated field is warned.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct EigenOptions {
    // cellscape's thick-restart Lanczos (the default: it stops at the first
    // product that meets the tolerance), or Spectra's implicitly restarted
    // Lanczos, which restarts in whole cycles of ncv - k products
    // (docs/analysis.md compares their product counts).
    EigenSolver solver = EigenSolver::lanczos;
    int64_t count = 1;             // k
    // Basis size before a restart; 0: min(n, max(2k + 10, 30)) for Lanczos,
    // min(n, max(2k + 1, 20)) for Spectra.
    int64_t ncv = 0;
    int64_t max_hvps = 1000;       // HVP budget: the solver stops there, converged or not
    // HVPs before any eigenvalue counts as converged (lanczos.hpp). In the
    // evidence study, 1 of 81 trained networks stopped after 5 HVPs at the
    // second eigenvalue (7% below the top, estimate 3e-4); from 8 HVPs on
    // the top one had appeared (docs/performance.md).
    int64_t min_hvps = 8;
    double max_seconds = 0;        // time budget; 0: none
    // On each eigenvalue's error estimate (lanczos.hpp), relative to |lambda|
    // (Spectra: on the residual, relative to max(|lambda|, eps^(2/3)))
    // (or 1e-3 of the largest |lambda| found, for eigenvalues nearer zero).
    // Near convergence the estimate was 7-23x above the true error in every
    // measurement (docs/performance.md), so the default 1e-3 gave the top
    // eigenvalue to better than 1e-4 against a tight reference at random and
    // at trained weights, in the fewest HVPs of the tolerances tried.
    double tol = 1e-3;
    uint64_t seed = 0;  // of the starting vector
    // Start from the gradient plus a Gaussian vector rather than the Gaussian
    // alone: the gradient leans toward the top eigenvectors, and costs
    // nothing extra when the gradient graphs are kept (Objective).
    bool gradient_start = true;
    bool keep_vectors = false;

    // cellscape 0.2's names, 0 when unset; set, they stand for the new one.
    [[deprecated("EigenOptions::krylov_dimension is now ncv")]] int64_t krylov_dimension = 0;
    [[deprecated("EigenOptions::tolerance is now tol")]] double tolerance = 0;
    [[deprecated("EigenOptions::max_products is now max_hvps")]] int64_t max_products = 0;
    [[deprecated("EigenOptions::min_products is now min_hvps")]] int64_t min_products = 0;
    // These options with the deprecated names' values moved to the current
    // names (the solvers read only those).
    EigenOptions in_current_names() const;

    // SettingError for values no solver can use ("count" is called
    // `count_setting`, e.g. "top_k"); k < n is checked against the Objective.
    void validate(const std::string& count_setting = "count") const;
};
#pragma GCC diagnostic pop

struct TraceOptions {
    double rtol = 0.01;  // stop when standard error <= this x |mean| ...
    int64_t min_probes = 10;           // ... after at least this many probes
    int64_t max_probes = 200;          // and never more than this many
    uint64_t seed = 0;
    bool keep_probes = false;          // return the probes (a test checks z^T H z against a dense H)
    // Split each probe's z^T H z over these parts (a partition of the
    // parameters, parameter_parts.hpp): z_b . (H z)_b for each part b. Its
    // mean estimates tr(H_bb) without bias (E z_b z_c^T = 0 for b != c), and
    // the parts' samples sum to z^T H z: the parts' traces sum to the whole
    // estimate, probe by probe, at no product beyond the whole's.
    std::vector<ParameterPart> parts;
    void validate() const;  // SettingError "trace_rtol", "trace_min_probes", "trace_max_probes"
};

struct DensityOptions {
    int64_t steps = 80;        // Lanczos steps per run (nodes of each quadrature)
    int64_t runs = 5;          // independent random starting vectors
    double sigma = 0;          // Gaussian smoothing width; 0: 1% of the spread of the nodes
    int64_t grid_points = 1000;
    uint64_t seed = 0;
    void validate() const;  // SettingError "slq_steps", "slq_runs", "slq_sigma", "grid_points"
};

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

// The Hessian analysis of a study's replicates ([analysis.hessian],
// docs/study.md): the request with a study's defaults (the top eigenvalue,
// the trace to 5% in at most 30 probes, density off; slq 30 steps x 3 runs
// when on) and the loss it is taken of: `samples` training images chosen by
// the analysis seed, `batch_size` at a time, BatchNorm in `bn` ("eval":
// running statistics, the network as evaluated; "train": each batch's
// statistics, the loss SGD descends). The analysis seed seeds the trace's
// probes and the density's starting vectors (resolve_hessian).
struct HessianSettings {
    bool enabled = true;
    int64_t samples = 256, batch_size = 128;
    BatchNormMode bn = BatchNormMode::eval;
    HessianRequest request = study_request();

private:
    static HessianRequest study_request();
};

// Reads [analysis.hessian]'s keys (top_k, tol, ncv, solver, trace,
// trace_max_probes, trace_rtol, density, slq_steps, slq_runs, samples,
// batch_size, bn, by_part, enabled) into `settings`; unknown keys and wrong
// types are errors naming the key. Values are judged by resolve_hessian.
void read_hessian_settings(TomlTable& table, HessianSettings& settings);

}  // namespace cellscape
