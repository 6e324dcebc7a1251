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

#include "cellscape/analysis/hessian_settings.hpp"
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
