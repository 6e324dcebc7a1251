#pragma once
// The Hessian of an Objective's loss, seen only through Hessian-vector
// products: extreme eigenpairs by implicitly restarted Lanczos (Spectra),
// the trace by Hutchinson's estimator, and the spectral density by
// stochastic Lanczos quadrature.
#include <torch/torch.h>

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <vector>

#include "cellscape/analysis/objective.hpp"
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

struct EigenOptions {
    int64_t count = 1;             // k
    int64_t krylov_dimension = 0;  // ncv; 0: min(n, max(2k + 1, 20))
    int64_t max_restarts = 300;
    double tolerance = 1e-5;  // Spectra's relative criterion on the Ritz residual estimate, in (0, 1)
    bool keep_vectors = false;

    // SettingError for values no solver can use ("count" is called
    // `count_setting`, e.g. "top_k"); k < n is checked against the Objective.
    void validate(const std::string& count_setting = "count") const;
};

struct EigenResult {
    // The converged eigenvalues, largest first (top) or smallest first
    // (bottom), then NaN for each of the k that did not converge.
    std::vector<double> values;
    std::vector<double> residuals;  // ||Hv - lambda v|| / |lambda| from one more HVP; NaN when not converged
    std::vector<bool> converged;
    torch::Tensor vectors;  // n x k, float64, CPU (converged ones; zero columns otherwise), if kept
    int64_t hessian_vector_products = 0;  // spent by the solver and the residual checks
};

// The k largest (top) or smallest (bottom) algebraic eigenvalues, by
// Spectra's implicitly restarted Lanczos. Progress: HVPs so far (Lanczos
// stops when it converges, so there is no total).
EigenResult hessian_extreme_eigenpairs(Objective& objective, const EigenOptions& options, bool top,
                                       ProgressSink* progress = nullptr);

struct TraceOptions {
    double relative_tolerance = 0.01;  // stop when standard error <= this x |mean| ...
    int64_t min_probes = 10;           // ... after at least this many probes
    int64_t max_probes = 200;          // and never more than this many
    uint64_t seed = 0;
    void validate() const;  // SettingError "trace_rtol", "trace_min_probes", "trace_max_probes"
};

struct TraceResult {
    double mean = 0, standard_error = 0;
    std::vector<double> samples;  // z^T H z per Rademacher probe z
    bool converged = false;       // the relative tolerance was met
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
