#include "cellscape/analysis/hessian.hpp"

#include <fmt/format.h>

#include <Eigen/Eigenvalues>
#include <Spectra/SymEigsSolver.h>
#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "cellscape/nn/network_size.hpp"
#include "cellscape/util/memory.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/random.hpp"

namespace cellscape {
namespace {

// Beyond these counts a request is a typo, not a study: 10^5 Lanczos runs or
// steps, or grid points, and 10^6 trace probes (PyHessian's defaults are 1
// run of 100 steps, and at most 100 probes).
constexpr int64_t max_density_count = 100000;
constexpr int64_t max_trace_probes = 1000000;

torch::Tensor rademacher(int64_t n, at::Generator& generator) {
    return torch::randint(0, 2, {n}, generator, torch::TensorOptions().dtype(torch::kFloat64)).mul_(2).sub_(1);
}

LanczosOptions lanczos_options(const EigenOptions& options, bool top) {
    LanczosOptions lanczos;
    lanczos.count = options.count;
    lanczos.largest = top;
    lanczos.tol = options.tol;
    lanczos.ncv = options.ncv;
    lanczos.max_products = options.max_hvps;
    lanczos.min_products = std::min(options.min_hvps, options.max_hvps);
    lanczos.max_seconds = options.max_seconds;
    lanczos.seed = options.seed;
    return lanczos;
}

}  // namespace

HessianOperator::HessianOperator(Objective& objective, std::function<void()> after_product)
    : objective_(objective), after_product_(std::move(after_product)) {}

void HessianOperator::perform_op(const double* x_in, double* y_out) const {
    if (InterruptGuard::requested())
        throw Interrupted(InterruptGuard::signal_number(),
                          "interrupted during the Hessian's Lanczos iterations; nothing of this analysis is saved "
                          "(its results are written when it finishes): run it again");
    const int64_t n = objective_.dimension();
    const torch::Tensor x = torch::from_blob(const_cast<double*>(x_in), {n}, torch::kFloat64);
    const torch::Tensor y = objective_.hessian_vector_product(x).to(torch::kCPU, torch::kFloat64).contiguous();
    std::copy(y.data_ptr<double>(), y.data_ptr<double>() + n, y_out);
    if (after_product_) after_product_();
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
EigenOptions EigenOptions::in_current_names() const {
    EigenOptions current = *this;
    if (krylov_dimension != 0) current.ncv = std::exchange(current.krylov_dimension, 0);
    if (tolerance != 0) current.tol = std::exchange(current.tolerance, 0);
    if (max_products != 0) current.max_hvps = std::exchange(current.max_products, 0);
    if (min_products != 0) current.min_hvps = std::exchange(current.min_products, 0);
    return current;
}
#pragma GCC diagnostic pop

void EigenOptions::validate(const std::string& count_setting) const {
    const EigenOptions options = in_current_names();
    if (count < 1) throw SettingError(count_setting, fmt::format("must be at least 1 (got {})", count));
    // The default minimum follows a small budget down; a minimum asked for above the budget is a contradiction.
    if (options.min_hvps != EigenOptions{}.min_hvps && options.min_hvps > options.max_hvps)
        throw SettingError("min_hvps", fmt::format("is {} but the HVP budget (max_hvps) is {}: the minimum cannot "
                                                   "exceed the budget",
                                                   options.min_hvps, options.max_hvps));
    try {
        lanczos_options(options, true).validate();
    } catch (const SettingError& error) {
        // The solver's generic names for products are HVPs here.
        const std::map<std::string, std::string> hessian_names = {{"max_products", "max_hvps"},
                                                                  {"min_products", "min_hvps"}};
        const auto renamed = hessian_names.find(error.setting());
        throw SettingError(renamed == hessian_names.end() ? error.setting() : renamed->second, error.problem());
    }
}

namespace {

// The k extreme eigenpairs by Spectra's SymEigsSolver (implicitly restarted
// Lanczos) driven through HessianOperator, from a seeded Gaussian start.
// Spectra counts its budget in restarts, each worth ncv - k products after
// the first ncv: the product budget becomes that many restarts.
EigenResult spectra_extreme_eigenpairs(Objective& objective, const EigenOptions& options, bool top,
                                       const ProgressTask& task) {
    const int64_t n = objective.dimension(), k = options.count;
    const int64_t ncv = options.ncv > 0 ? options.ncv
                                                     : std::min<int64_t>(n, std::max<int64_t>(2 * k + 1, 20));
    if (ncv <= k || ncv > n)
        throw SettingError("ncv", fmt::format("must be above the {} eigenvalues asked for and at most the "
                                                           "{} parameters for Spectra (got {})",
                                                           k, n, ncv));
    int64_t products = 0;
    HessianOperator hessian(objective, [&] { task.update(++products); });
    Spectra::SymEigsSolver<HessianOperator> solver(hessian, k, ncv);
    SeededRandom random(options.seed);
    Eigen::VectorXd start(n);
    for (Eigen::Index i = 0; i < start.size(); ++i) start[i] = random.normal();
    solver.init(start.data());
    const int64_t restarts = std::max<int64_t>(1, (options.max_hvps - ncv) / (ncv - k) + 1);
    const auto rule = top ? Spectra::SortRule::LargestAlge : Spectra::SortRule::SmallestAlge;
    const auto found = solver.compute(rule, restarts, options.tol, rule);
    const Eigen::VectorXd values = solver.eigenvalues();
    const Eigen::MatrixXd vectors = solver.eigenvectors();
    EigenResult result;
    result.solver = EigenSolver::spectra;
    result.restarts = solver.num_iterations();
    result.stop = solver.info() == Spectra::CompInfo::Successful ? LanczosStop::converged : LanczosStop::product_budget;
    if (options.keep_vectors) result.vectors = torch::zeros({n, k}, torch::kFloat64);
    const double largest = values.size() ? values.cwiseAbs().maxCoeff() : 0.0;
    for (int64_t i = 0; i < k; ++i) {
        if (i >= found) {  // not converged: no value, no residual
            result.values.push_back(NAN);
            result.ritz_values.push_back(NAN);
            result.residuals.push_back(NAN);
            result.error_estimates.push_back(NAN);
            result.converged.push_back(false);
            continue;
        }
        // The residual ||H y - lambda y||, one product more, relative as Lanczos reports it.
        const torch::Tensor y = torch::from_blob(const_cast<double*>(vectors.col(i).data()), {n}, torch::kFloat64).clone();
        const double lambda = values[i];
        const torch::Tensor hy = objective.hessian_vector_product(y).to(torch::kCPU, torch::kFloat64);
        ++products;
        const double residual = (hy - lambda * y).norm().item<double>() / lanczos_scale(lambda, largest);
        result.values.push_back(lambda);
        result.ritz_values.push_back(lambda);
        result.residuals.push_back(residual);
        result.error_estimates.push_back(residual);
        result.converged.push_back(true);
        if (options.keep_vectors) result.vectors.select(1, i).copy_(y);
    }
    result.hessian_vector_products = products;
    return result;
}

}  // namespace

namespace {

// Lanczos' pairs as an EigenResult: unconverged values NaN, residuals and
// estimates relative to each pair's scale (no vectors).
EigenResult eigen_result(const LanczosResult& found) {
    EigenResult result;
    result.ritz_values = found.values;
    result.converged = found.converged;
    result.hessian_vector_products = found.products;
    result.restarts = found.restarts;
    result.stop = found.stop;
    for (std::size_t i = 0; i < found.values.size(); ++i) {
        result.values.push_back(found.converged[i] ? found.values[i] : NAN);
        result.residuals.push_back(found.residuals[i] / found.scales[i]);
        result.error_estimates.push_back(found.error_estimates[i] / found.scales[i]);
    }
    return result;
}

// Progress per product, with the worst relative estimate, as it is compared with the tolerance.
std::function<void(const LanczosResult&)> progress_of(const ProgressTask& task) {
    return [&task](const LanczosResult& so_far) {
        double worst = 0;
        for (std::size_t i = 0; i < so_far.values.size(); ++i)
            worst = std::max(worst, so_far.error_estimates[i] / so_far.scales[i]);
        task.update(so_far.products, fmt::format("error estimate {:.1e}", worst));
    };
}

// The part's entries of a flat vector, and a flat vector of n that is `values` on the part and zero elsewhere.
torch::Tensor part_entries(const torch::Tensor& flat, const ParameterPart& part) {
    std::vector<torch::Tensor> pieces;
    for (const auto& [offset, length] : part.ranges) pieces.push_back(flat.narrow(0, offset, length));
    return torch::cat(pieces);
}

// Error unless every one of the n parameters is in exactly one part.
void require_partition(const std::vector<ParameterPart>& parts, int64_t n) {
    std::vector<char> covered(static_cast<std::size_t>(n), 0);
    for (const ParameterPart& part : parts)
        for (const auto& [offset, length] : part.ranges) {
            if (offset < 0 || length < 0 || offset + length > n)
                throw Error(fmt::format("part {} reaches beyond the selection's {} parameters", part.name, n));
            for (int64_t i = offset; i < offset + length; ++i)
                if (covered[static_cast<std::size_t>(i)]++)
                    throw Error(fmt::format("parameter {} is in two parts ({} and another): parts must partition the "
                                            "parameters",
                                            i, part.name));
        }
    const auto missing = std::find(covered.begin(), covered.end(), 0);
    if (missing != covered.end())
        throw Error(fmt::format("parameter {} is in no part: parts must partition the parameters",
                                missing - covered.begin()));
}

// The one eigenvalue of a 1 x 1 block, e_i^T H e_i: Lanczos needs more
// dimensions than eigenvalues.
EigenResult single_entry_block(Objective& objective, const ParameterPart& part) {
    torch::Tensor unit = torch::zeros({objective.dimension()}, torch::kFloat64);
    const int64_t index = part.ranges.front().first;
    unit[index] = 1.0;
    EigenResult result;
    result.values = result.ritz_values = {
        objective.hessian_vector_product(unit).to(torch::kCPU, torch::kFloat64)[index].item<double>()};
    result.residuals = result.error_estimates = {0.0};
    result.converged = {true};
    result.hessian_vector_products = 1;
    return result;
}

torch::Tensor on_part(const torch::Tensor& values, const ParameterPart& part, int64_t n) {
    torch::Tensor flat = torch::zeros({n}, values.options());
    int64_t at = 0;
    for (const auto& [offset, length] : part.ranges) {
        flat.narrow(0, offset, length).copy_(values.narrow(0, at, length));
        at += length;
    }
    return flat;
}

}  // namespace

EigenResult hessian_block_eigenpairs(Objective& objective, const ParameterPart& part, const EigenOptions& given,
                                     bool top, ProgressSink* progress) {
    given.validate(top ? "top_k" : "bottom_k");
    const EigenOptions options = given.in_current_names();
    const int64_t n = objective.dimension();
    const int64_t covered = part.ranges.empty() ? 0 : part.ranges.back().first + part.ranges.back().second;
    if (part.size < 1 || covered > n)
        throw Error(fmt::format("part {} ({} parameters, up to {}) is not a part of the selection's {} parameters",
                                part.name, part.size, covered, n));
    if (part.size == 1 && options.count == 1) return single_entry_block(objective, part);
    if (options.count >= part.size)
        throw SettingError(top ? "top_k" : "bottom_k",
                           fmt::format("{} eigenvalues were asked for, but part {} has only {} parameters",
                                       options.count, part.name, part.size));
    const ProgressTask task(progress, fmt::format("{} eigenvalues of {}", top ? "top" : "bottom", part.name), 0,
                            "HVPs");
    LanczosOptions lanczos = lanczos_options(options, top);
    // A block smaller than min_hvps is spanned whole before that: its Ritz values are exact there.
    lanczos.min_products = std::min(lanczos.min_products, part.size);
    lanczos.relative_noise = objective.dtype() == torch::kFloat32 ? 1e-6 : 1e-13;
    if (options.gradient_start)
        lanczos.start_hint = part_entries(objective.gradient_keeping_graphs().to(torch::kCPU, torch::kFloat64), part);
    const auto product = [&](const torch::Tensor& x) {
        if (InterruptGuard::requested())
            throw Interrupted(InterruptGuard::signal_number(),
                              "interrupted during a part's Lanczos iterations; nothing of this analysis is saved: "
                              "run it again");
        const torch::Tensor whole = objective.hessian_vector_product(on_part(x.to(torch::kFloat64), part, n));
        return part_entries(whole.to(torch::kCPU, torch::kFloat64), part);
    };
    return eigen_result(lanczos_eigenpairs(product, part.size, lanczos, progress_of(task)));
}

EigenResult hessian_extreme_eigenpairs(Objective& objective, const EigenOptions& given, bool top,
                                       ProgressSink* progress) {
    given.validate(top ? "top_k" : "bottom_k");
    const EigenOptions options = given.in_current_names();
    const int64_t n = objective.dimension();
    const int64_t k = options.count;
    if (k >= n)
        throw SettingError(top ? "top_k" : "bottom_k",
                           fmt::format("{} eigenvalues were asked for, but the selection has only {} parameters: "
                                       "Lanczos needs fewer eigenvalues than parameters",
                                       k, n));
    const ProgressTask task(progress, top ? "top eigenvalues" : "bottom eigenvalues", 0, "HVPs");
    if (options.solver == EigenSolver::spectra) return spectra_extreme_eigenpairs(objective, options, top, task);
    LanczosOptions lanczos = lanczos_options(options, top);
    // float32 HVPs through a deep network agree with float64 ones to about
    // 1e-6 relative (docs/performance.md): no estimate below that is real.
    lanczos.relative_noise = objective.dtype() == torch::kFloat32 ? 1e-6 : 1e-13;
    if (options.gradient_start) lanczos.start_hint = objective.gradient_keeping_graphs();
    const auto product = [&](const torch::Tensor& x) {
        if (InterruptGuard::requested())
            throw Interrupted(InterruptGuard::signal_number(),
                              "interrupted during the Hessian's Lanczos iterations; nothing of this analysis is saved "
                              "(its results are written when it finishes): run it again");
        return objective.hessian_vector_product(x);
    };
    const LanczosResult found = lanczos_eigenpairs(product, n, lanczos, progress_of(task));
    EigenResult result = eigen_result(found);
    if (options.keep_vectors) result.vectors = torch::zeros({n, k}, torch::kFloat64);
    for (std::size_t i = 0; i < found.values.size(); ++i) {
        if (options.keep_vectors && found.converged[i])
            result.vectors.select(1, static_cast<int64_t>(i)).copy_(found.vectors.select(1, static_cast<int64_t>(i)));
    }
    return result;
}

void TraceOptions::validate() const {
    if (!(rtol > 0))
        throw SettingError("trace_rtol", fmt::format("must be positive (got {})", rtol));
    if (min_probes < 2) throw SettingError("trace_min_probes", fmt::format("must be at least 2 (got {})", min_probes));
    if (max_probes < min_probes)
        throw SettingError("trace_max_probes",
                           fmt::format("must be at least the minimum of {} probes (got {})", min_probes, max_probes));
    if (max_probes > max_trace_probes)
        throw SettingError("trace_max_probes", fmt::format("must be at most {} (got {}); the estimate's standard error "
                                                           "shrinks only as 1/sqrt(probes)",
                                                           max_trace_probes, max_probes));
}

void DensityOptions::validate() const {
    if (steps < 2) throw SettingError("slq_steps", fmt::format("must be at least 2 (got {})", steps));
    if (runs < 1) throw SettingError("slq_runs", fmt::format("must be at least 1 (got {})", runs));
    if (!(sigma >= 0)) throw SettingError("slq_sigma", fmt::format("must not be negative (got {})", sigma));
    if (grid_points < 10) throw SettingError("grid_points", fmt::format("must be at least 10 (got {})", grid_points));
    if (steps > max_density_count || runs > max_density_count || grid_points > max_density_count) {
        const bool too_many_steps = steps > max_density_count, too_many_runs = runs > max_density_count;
        const std::string setting = too_many_steps ? "slq_steps" : too_many_runs ? "slq_runs" : "grid_points";
        const int64_t value = too_many_steps ? steps : too_many_runs ? runs : grid_points;
        throw SettingError(setting, fmt::format("must be at most {} (got {})", max_density_count, value));
    }
    // The smoothing kernel is a grid_points x (runs x steps) matrix of doubles.
    const auto available = available_memory_bytes();
    const double kernel_bytes = 8.0 * static_cast<double>(grid_points) * static_cast<double>(runs * steps);
    if (available && kernel_bytes > static_cast<double>(*available) / 2)
        throw SettingError("slq_runs", fmt::format("{} runs of {} steps on {} grid points need {:.1f} GiB for the "
                                                   "density's kernel, more than half the {:.1f} GiB available: use "
                                                   "fewer runs or steps",
                                                   runs, steps, grid_points, kernel_bytes / (1 << 30),
                                                   static_cast<double>(*available) / (1 << 30)));
}

TraceResult hutchinson_trace(Objective& objective, const TraceOptions& options, ProgressSink* progress) {
    options.validate();
    const ProgressTask task(progress, "trace", options.max_probes, "probes");
    auto generator = at::detail::createCPUGenerator(options.seed);
    TraceResult result;
    result.seed = options.seed;
    std::vector<torch::Tensor> probes;
    double sum = 0, sum_squares = 0;
    if (!options.parts.empty()) require_partition(options.parts, objective.dimension());
    result.part_samples.resize(options.parts.size());
    while (static_cast<int64_t>(result.samples.size()) < options.max_probes) {
        if (InterruptGuard::requested())
            throw Interrupted(InterruptGuard::signal_number(),
                              "interrupted while estimating the trace; nothing of this analysis is saved: run it again");
        const torch::Tensor z = rademacher(objective.dimension(), generator);
        const torch::Tensor hz = objective.hessian_vector_product(z).to(torch::kCPU, torch::kFloat64);
        const double sample = z.dot(hz).item<double>();
        result.samples.push_back(sample);
        for (std::size_t b = 0; b < options.parts.size(); ++b)
            result.part_samples[b].push_back(
                part_entries(z, options.parts[b]).dot(part_entries(hz, options.parts[b])).item<double>());
        if (options.keep_probes) probes.push_back(z);
        sum += sample;
        sum_squares += sample * sample;
        const auto m = static_cast<double>(result.samples.size());
        result.mean = sum / m;
        const double variance = m > 1 ? std::max(0.0, (sum_squares - m * result.mean * result.mean) / (m - 1)) : NAN;
        result.standard_error = std::sqrt(variance / m);
        task.update(static_cast<int64_t>(m), fmt::format("trace {:.6g} +- {:.2g}", result.mean, result.standard_error));
        if (static_cast<int64_t>(m) >= options.min_probes &&
            result.standard_error <= options.rtol * std::abs(result.mean)) {
            result.converged = true;
            break;
        }
    }
    if (options.keep_probes && !probes.empty()) result.probes = torch::stack(probes, 1);
    for (const std::vector<double>& samples : result.part_samples) {
        const auto m = static_cast<double>(samples.size());
        double part_sum = 0, part_squares = 0;
        for (double sample : samples) part_sum += sample;
        const double mean = part_sum / m;
        for (double sample : samples) part_squares += (sample - mean) * (sample - mean);
        result.part_means.push_back(mean);
        result.part_standard_errors.push_back(m > 1 ? std::sqrt(part_squares / (m - 1) / m) : NAN);
    }
    return result;
}

DensityResult spectral_density(Objective& objective, const DensityOptions& options, ProgressSink* progress) {
    options.validate();
    const int64_t n = objective.dimension();
    const ProgressTask task(progress, "spectral density", options.steps * options.runs, "HVPs");
    const int64_t steps = std::min(options.steps, n);
    auto generator = at::detail::createCPUGenerator(options.seed);
    DensityResult result;
    result.seed = options.seed;
    result.nodes = torch::zeros({options.runs, steps}, torch::kFloat64);
    result.weights = torch::zeros({options.runs, steps}, torch::kFloat64);
    for (int64_t run = 0; run < options.runs; ++run) {
        // Lanczos from a normalized Rademacher vector, with full
        // reorthogonalization (twice) against the stored basis.
        torch::Tensor basis = torch::zeros({steps, n}, torch::kFloat64);
        basis[0] = rademacher(n, generator) / std::sqrt(static_cast<double>(n));
        std::vector<double> alpha, beta;
        for (int64_t j = 0; j < steps; ++j) {
            if (InterruptGuard::requested())
                throw Interrupted(InterruptGuard::signal_number(),
                                  "interrupted during the spectral density's Lanczos runs; nothing of this analysis is "
                                  "saved: run it again");
            torch::Tensor w = objective.hessian_vector_product(basis[j]).to(torch::kCPU, torch::kFloat64);
            alpha.push_back(w.dot(basis[j]).item<double>());
            for (int pass = 0; pass < 2; ++pass) {
                const torch::Tensor used = basis.narrow(0, 0, j + 1);
                w -= used.t().mv(used.mv(w));
            }
            task.update(run * steps + j + 1);
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
