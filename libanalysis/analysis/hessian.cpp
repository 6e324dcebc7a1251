#include "analysis/hessian.hpp"

#include <fmt/format.h>

#include <Eigen/Eigenvalues>
#include <Spectra/SymEigsSolver.h>
#include <cmath>

#include "util/error.hpp"

namespace cellscape {
namespace {

torch::Tensor rademacher(int64_t n, at::Generator& generator) {
    return torch::randint(0, 2, {n}, generator, torch::TensorOptions().dtype(torch::kFloat64)).mul_(2).sub_(1);
}

// Exposes the Ritz values of the current restart, which Spectra keeps protected.
template <typename Op>
class ObservableSolver : public Spectra::SymEigsSolver<Op> {
public:
    using Spectra::SymEigsSolver<Op>::SymEigsSolver;
    std::vector<double> current_ritz_values() const {
        const auto& values = this->m_ritz_val;
        const auto count = std::min<Eigen::Index>(this->m_nev, values.size());
        return std::vector<double>(values.data(), values.data() + count);
    }
};

}  // namespace

HessianOperator::HessianOperator(Objective& objective, std::function<void()> after_product)
    : objective_(objective), after_product_(std::move(after_product)) {}

void HessianOperator::perform_op(const double* x_in, double* y_out) const {
    const int64_t n = objective_.dimension();
    const torch::Tensor x = torch::from_blob(const_cast<double*>(x_in), {n}, torch::kFloat64);
    const torch::Tensor y = objective_.hessian_vector_product(x).to(torch::kCPU, torch::kFloat64).contiguous();
    std::copy(y.data_ptr<double>(), y.data_ptr<double>() + n, y_out);
    if (after_product_) after_product_();
}

EigenResult hessian_extreme_eigenpairs(Objective& objective, const EigenOptions& options, bool top,
                                       const std::function<void(int64_t, const std::vector<double>&)>& progress) {
    const int64_t n = objective.dimension();
    const int64_t k = options.count;
    if (k < 1) throw Error(fmt::format("the number of eigenvalues must be at least 1 (got {})", k));
    if (k >= n)
        throw Error(fmt::format("{} eigenvalues were asked for, but the selection has only {} parameters: Lanczos "
                                "needs k < n (use fewer, or select more parameters)",
                                k, n));
    const int64_t ncv = options.krylov_dimension > 0 ? options.krylov_dimension
                                                     : std::min(n, std::max<int64_t>(2 * k + 1, 20));
    if (ncv <= k || ncv > n)
        throw Error(fmt::format("--ncv must be greater than k ({}) and at most the parameter count ({}), got {}", k, n,
                                ncv));
    const int64_t products_before = objective.hvp_count();
    ObservableSolver<HessianOperator>* solver_view = nullptr;
    HessianOperator op(objective, [&] {
        if (progress && solver_view) progress(objective.hvp_count() - products_before, solver_view->current_ritz_values());
    });
    ObservableSolver<HessianOperator> solver(op, k, ncv);
    solver_view = &solver;
    solver.init();
    const auto rule = top ? Spectra::SortRule::LargestAlge : Spectra::SortRule::SmallestAlge;
    solver.compute(rule, options.max_restarts, options.tolerance, rule);

    EigenResult result;
    const Eigen::VectorXd converged_values = solver.eigenvalues();
    const Eigen::MatrixXd converged_vectors = solver.eigenvectors();
    const std::vector<double> ritz = solver.current_ritz_values();
    if (options.keep_vectors) result.vectors = torch::zeros({n, k}, torch::kFloat64);
    for (int64_t i = 0; i < k; ++i) {
        // A wanted Ritz value converged iff Spectra returns it among the converged ones.
        Eigen::Index column = -1;
        for (Eigen::Index j = 0; j < converged_values.size(); ++j)
            if (converged_values[j] == ritz[static_cast<std::size_t>(i)]) column = j;
        result.values.push_back(ritz[static_cast<std::size_t>(i)]);
        result.converged.push_back(column >= 0);
        if (column < 0) {
            result.residuals.push_back(NAN);
            continue;
        }
        const Eigen::VectorXd v = converged_vectors.col(column);
        const torch::Tensor vector = torch::from_blob(const_cast<double*>(v.data()), {n}, torch::kFloat64).clone();
        const torch::Tensor hv = objective.hessian_vector_product(vector).to(torch::kCPU, torch::kFloat64);
        const double lambda = converged_values[column];
        result.residuals.push_back((hv - lambda * vector).norm().item<double>() / std::abs(lambda));
        if (options.keep_vectors) result.vectors.select(1, i).copy_(vector);
    }
    result.hessian_vector_products = objective.hvp_count() - products_before;
    return result;
}

TraceResult hutchinson_trace(Objective& objective, const TraceOptions& options,
                             const std::function<void(int64_t, double, double)>& progress) {
    if (options.min_probes < 2 || options.max_probes < options.min_probes)
        throw Error(fmt::format("trace probes: need 2 <= min ({}) <= max ({})", options.min_probes,
                                options.max_probes));
    auto generator = at::detail::createCPUGenerator(options.seed);
    TraceResult result;
    double sum = 0, sum_squares = 0;
    while (static_cast<int64_t>(result.samples.size()) < options.max_probes) {
        const torch::Tensor z = rademacher(objective.dimension(), generator);
        const double sample =
            z.dot(objective.hessian_vector_product(z).to(torch::kCPU, torch::kFloat64)).item<double>();
        result.samples.push_back(sample);
        sum += sample;
        sum_squares += sample * sample;
        const auto m = static_cast<double>(result.samples.size());
        result.mean = sum / m;
        const double variance = m > 1 ? std::max(0.0, (sum_squares - m * result.mean * result.mean) / (m - 1)) : NAN;
        result.standard_error = std::sqrt(variance / m);
        if (progress) progress(static_cast<int64_t>(m), result.mean, result.standard_error);
        if (static_cast<int64_t>(m) >= options.min_probes &&
            result.standard_error <= options.relative_tolerance * std::abs(result.mean)) {
            result.converged = true;
            break;
        }
    }
    return result;
}

DensityResult spectral_density(Objective& objective, const DensityOptions& options,
                               const std::function<void(int64_t, int64_t)>& progress) {
    const int64_t n = objective.dimension();
    if (options.steps < 2 || options.runs < 1 || options.grid_points < 10)
        throw Error("--slq-steps must be at least 2, --slq-runs at least 1, the grid at least 10 points");
    const int64_t steps = std::min(options.steps, n);
    auto generator = at::detail::createCPUGenerator(options.seed);
    DensityResult result;
    result.nodes = torch::zeros({options.runs, steps}, torch::kFloat64);
    result.weights = torch::zeros({options.runs, steps}, torch::kFloat64);
    for (int64_t run = 0; run < options.runs; ++run) {
        // Lanczos from a normalized Rademacher vector, with full
        // reorthogonalization (twice) against the stored basis.
        torch::Tensor basis = torch::zeros({steps, n}, torch::kFloat64);
        basis[0] = rademacher(n, generator) / std::sqrt(static_cast<double>(n));
        std::vector<double> alpha, beta;
        for (int64_t j = 0; j < steps; ++j) {
            torch::Tensor w = objective.hessian_vector_product(basis[j]).to(torch::kCPU, torch::kFloat64);
            alpha.push_back(w.dot(basis[j]).item<double>());
            for (int pass = 0; pass < 2; ++pass) {
                const torch::Tensor used = basis.narrow(0, 0, j + 1);
                w -= used.t().mv(used.mv(w));
            }
            if (progress) progress(run * steps + j + 1, options.runs * steps);
            if (j + 1 == steps) break;
            const double norm = w.norm().item<double>();
            if (norm < 1e-10 * std::max(1.0, std::abs(alpha.back()))) break;  // invariant subspace found
            beta.push_back(norm);
            basis[j + 1] = w / norm;
        }
        const auto m = static_cast<Eigen::Index>(alpha.size());
        Eigen::MatrixXd tridiagonal = Eigen::MatrixXd::Zero(m, m);
        for (Eigen::Index i = 0; i < m; ++i) {
            tridiagonal(i, i) = alpha[static_cast<std::size_t>(i)];
            if (i + 1 < m) tridiagonal(i, i + 1) = tridiagonal(i + 1, i) = beta[static_cast<std::size_t>(i)];
        }
        const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(tridiagonal);
        for (Eigen::Index i = 0; i < m; ++i) {
            result.nodes[run][i] = solver.eigenvalues()[i];
            result.weights[run][i] = solver.eigenvectors()(0, i) * solver.eigenvectors()(0, i);
        }
    }
    // Gaussian smoothing on a grid covering every node by 5 sigma.
    const torch::Tensor used = result.weights.gt(0);
    const double low = result.nodes.masked_select(used).min().item<double>();
    const double high = result.nodes.masked_select(used).max().item<double>();
    result.sigma = options.sigma > 0 ? options.sigma : std::max(0.01 * (high - low), 1e-12 + 1e-6 * std::abs(high));
    result.grid = torch::linspace(low - 5 * result.sigma, high + 5 * result.sigma, options.grid_points,
                                  torch::kFloat64);
    const torch::Tensor distance = result.grid.view({-1, 1}) - result.nodes.flatten().view({1, -1});
    const torch::Tensor kernel =
        torch::exp(-0.5 * (distance / result.sigma).pow(2)) / (result.sigma * std::sqrt(2 * M_PI));
    result.density = kernel.mv(result.weights.flatten()) / static_cast<double>(options.runs);
    return result;
}

PowerIterationResult power_iteration(Objective& objective, int64_t max_iterations, uint64_t seed,
                                     const std::function<bool(double previous, double estimate)>& settled) {
    auto generator = at::detail::createCPUGenerator(seed);
    torch::Tensor v = torch::randn({objective.dimension()}, generator, torch::kFloat64);
    v /= v.norm();
    PowerIterationResult result;
    const int64_t before = objective.hvp_count();
    for (int64_t i = 0; i < max_iterations; ++i) {
        const torch::Tensor hv = objective.hessian_vector_product(v).to(torch::kCPU, torch::kFloat64);
        const double estimate = v.dot(hv).item<double>();
        const bool done = i > 0 && settled(result.value, estimate);
        result.value = estimate;
        if (done) {
            result.converged = true;
            break;
        }
        v = hv / hv.norm();
    }
    result.hessian_vector_products = objective.hvp_count() - before;
    return result;
}

}  // namespace cellscape
