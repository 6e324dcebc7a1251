#pragma once
// The Hessian of an Objective's loss, seen only through Hessian-vector
// products: extreme eigenpairs by thick-restart Lanczos (lanczos.hpp) or by
// Spectra's SymEigsSolver on HessianOperator (EigenOptions::solver),
// the trace by Hutchinson's estimator, and the spectral density by
// stochastic Lanczos quadrature.
#include <torch/types.h>

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <vector>

#include "cellscape/analysis/lanczos.hpp"
#include "cellscape/analysis/objective.hpp"
#include "cellscape/analysis/parameter_parts.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {

// Spectra's matrix-operation concept over the Objective: y = H x. Each
// product checks for an interrupt (util/interrupt.hpp) first and throws
// Interrupted when one was requested: Hessian results are written only when
// complete, so there is nothing to save.
class HessianOperator {
public:
    using Scalar = double;
    // `after_product` runs after each product (progress reporting).
    explicit HessianOperator(Objective& objective, std::function<void()> after_product = {});
    Eigen::Index rows() const { return static_cast<Eigen::Index>(objective_.dimension()); }
    Eigen::Index cols() const { return rows(); }
    void perform_op(const double* x_in, double* y_out) const;

private:
    Objective& objective_;
    std::function<void()> after_product_;
};

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

struct EigenResult {
    // The eigenvalues that met the tolerance, largest first (top) or smallest
    // first (bottom); NaN for each of the k that did not.
    std::vector<double> values;
    std::vector<double> ritz_values;      // the solver's last estimates, met or not
    // Relative to the scale above: ||Hy - theta y||, so some eigenvalue lies
    // within it of theta; and the error estimate min(r, r^2 / gap).
    std::vector<double> residuals;
    std::vector<double> error_estimates;
    std::vector<bool> converged;
    torch::Tensor vectors;  // n x k, float64, CPU (converged ones; zero columns otherwise), if kept
    int64_t hessian_vector_products = 0;  // with Spectra: also one per eigenpair for its residual
    int64_t restarts = 0;
    LanczosStop stop = LanczosStop::converged;
    EigenSolver solver = EigenSolver::lanczos;
};

// The k largest (top) or smallest (bottom) algebraic eigenvalues, by
// options.solver. Progress: HVPs so far, with the worst error estimate
// (Lanczos stops when it converges: no total). With Spectra the residuals
// ||Hy - lambda y|| are measured with one more product per eigenpair, and
// serve as the error estimates (some eigenvalue lies within them).
EigenResult hessian_extreme_eigenpairs(Objective& objective, const EigenOptions& options, bool top,
                                       ProgressSink* progress = nullptr);

// The extreme eigenvalues of one diagonal block H_bb of the Hessian, the
// curvature of the part's parameters with the others held fixed: Lanczos
// (whatever options.solver says) on v_b -> (H [v_b; 0])_b, one Hessian-vector
// product of the whole network per step, started from the part's gradient
// plus a Gaussian vector when options.gradient_start; a one-parameter
// part's one eigenvalue is its diagonal entry. Progress as
// hessian_extreme_eigenpairs.
EigenResult hessian_block_eigenpairs(Objective& objective, const ParameterPart& part, const EigenOptions& options,
                                     bool top, ProgressSink* progress = nullptr);

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

struct TraceResult {
    double mean = 0, standard_error = 0;
    std::vector<double> samples;  // z^T H z per Rademacher probe z
    bool converged = false;       // the relative tolerance was met
    uint64_t seed = 0;            // of the probes (TraceOptions::seed)
    torch::Tensor probes;         // n x probes (float64, CPU), when TraceOptions::keep_probes
    // With TraceOptions::parts, per part: z_b . (H z)_b per probe, their mean
    // and its standard error (the stopping rule is the whole trace's).
    std::vector<std::vector<double>> part_samples;
    std::vector<double> part_means, part_standard_errors;
};

// Progress: probes so far, with the running mean and standard error.
TraceResult hutchinson_trace(Objective& objective, const TraceOptions& options, ProgressSink* progress = nullptr);

struct DensityOptions {
    int64_t steps = 80;        // Lanczos steps per run (nodes of each quadrature)
    int64_t runs = 5;          // independent random starting vectors
    double sigma = 0;          // Gaussian smoothing width; 0: 1% of the spread of the nodes
    int64_t grid_points = 1000;
    uint64_t seed = 0;
    void validate() const;  // SettingError "slq_steps", "slq_runs", "slq_sigma", "grid_points"
};

struct DensityResult {
    torch::Tensor nodes, weights;  // runs x steps (float64): Ritz values and their quadrature weights
    torch::Tensor grid, density;   // grid_points (float64): smoothed density, integrating to 1
    double sigma = 0;
    uint64_t seed = 0;  // of the starting vectors (DensityOptions::seed)
};

// Progress: HVPs of all runs.
DensityResult spectral_density(Objective& objective, const DensityOptions& options, ProgressSink* progress = nullptr);

// Plain power iteration for the largest-magnitude eigenvalue from a seeded
// Gaussian start: the baseline the benchmark compares Lanczos with. It stops
// once `settled(previous, estimate)` holds for two successive Rayleigh
// quotients, or after max_iterations HVPs.
struct PowerIterationResult {
    double value = 0;
    int64_t hessian_vector_products = 0;
    bool converged = false;
};
PowerIterationResult power_iteration(Objective& objective, int64_t max_iterations, uint64_t seed,
                                     const std::function<bool(double previous, double estimate)>& settled);

}  // namespace cellscape
