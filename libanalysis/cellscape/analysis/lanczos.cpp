#include "cellscape/analysis/lanczos.hpp"

#include <fmt/format.h>

#include <Eigen/Eigenvalues>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include "cellscape/util/error.hpp"

namespace cellscape {
namespace {

// The Lanczos relation A V = V T + f b^T over the first m rows of `basis`.
class Krylov {
public:
    Krylov(int64_t n, int64_t capacity, uint64_t seed, const torch::Tensor& hint)
        : basis_(torch::zeros({capacity, n}, torch::kFloat64)),
          projected_(Eigen::MatrixXd::Zero(capacity, capacity)),
          generator_(at::detail::createCPUGenerator(seed)) {
        if (!hint.defined()) return;
        start_ = hint.to(torch::kCPU, torch::kFloat64).reshape({-1});
        const double norm = start_.norm().item<double>();
        if (start_.numel() != n || !std::isfinite(norm))
            throw Error(fmt::format("internal: a Lanczos start hint of {} values for {} (norm {})", start_.numel(), n,
                                    norm));
        start_ = norm > 0 ? start_ / norm : torch::Tensor();
    }

    int64_t size() const { return m_; }
    double residual_norm() const { return residual_.defined() ? residual_.norm().item<double>() : 0.0; }
    Eigen::Ref<const Eigen::MatrixXd> projected() const { return projected_.topLeftCorner(m_, m_); }
    const Eigen::VectorXd& coupling() const { return coupling_; }

    // Adds one basis vector (the normalized residual, or a fresh random
    // direction after a breakdown) and one product.
    void expand(const std::function<torch::Tensor(const torch::Tensor&)>& apply) {
        const double beta = residual_norm();
        // Breakdown: the basis spans an invariant subspace (to rounding), so
        // the residual carries no direction; continue in a new random one,
        // which couples to nothing in the basis.
        const bool breakdown = m_ == 0 || beta <= 1e-12 * std::max(1.0, projected_norm_);
        torch::Tensor v = breakdown ? orthogonalized(torch::randn({basis_.size(1)}, generator_, torch::kFloat64))
                                    : residual_ / beta;
        if (m_ == 0 && start_.defined()) v = v / v.norm() + start_;
        v /= v.norm();
        basis_[m_] = v;
        for (int64_t i = 0; i < m_; ++i)
            projected_(i, m_) = projected_(m_, i) = breakdown ? 0.0 : beta * coupling_[i];
        torch::Tensor w = apply(v).to(torch::kCPU, torch::kFloat64).reshape({-1});
        // Full reorthogonalization, twice ("twice is enough", Parlett): the
        // basis stays orthonormal to rounding, so Ritz residuals are exact.
        const double alpha = w.dot(v).item<double>();
        residual_ = orthogonalized(orthogonalized(w, m_ + 1), m_ + 1);
        projected_(m_, m_) = alpha;
        projected_norm_ = std::max(projected_norm_, std::abs(alpha));
        ++m_;
        coupling_ = Eigen::VectorXd::Zero(m_);
        coupling_[m_ - 1] = 1.0;
    }

    // Keeps the Ritz vectors `kept` (columns of the projected matrix's eigenvectors).
    void restart(const Eigen::MatrixXd& kept, const Eigen::VectorXd& values) {
        const auto p = kept.cols();
        const torch::Tensor combination =
            torch::from_blob(const_cast<double*>(kept.data()), {p, m_}, torch::kFloat64);  // column-major: rows = Ritz vectors
        const torch::Tensor new_basis = combination.matmul(basis_.narrow(0, 0, m_));
        basis_.narrow(0, 0, p).copy_(new_basis);
        projected_.setZero();
        projected_.topLeftCorner(p, p) = values.asDiagonal();
        coupling_ = kept.transpose() * coupling_;
        m_ = p;
    }

    torch::Tensor ritz_vector(const Eigen::VectorXd& coefficients) const {
        const torch::Tensor s = torch::from_blob(const_cast<double*>(coefficients.data()), {m_}, torch::kFloat64);
        const torch::Tensor y = basis_.narrow(0, 0, m_).t().mv(s);
        return y / y.norm();
    }

private:
    torch::Tensor orthogonalized(torch::Tensor w, int64_t rows = -1) const {
        const int64_t used = rows < 0 ? m_ : rows;
        if (used == 0) return w;
        const torch::Tensor v = basis_.narrow(0, 0, used);
        return w - v.t().mv(v.mv(w));
    }

    torch::Tensor basis_, residual_, start_;
    Eigen::MatrixXd projected_;
    Eigen::VectorXd coupling_;
    at::Generator generator_;
    int64_t m_ = 0;
    double projected_norm_ = 0;
};

struct RitzPairs {
    Eigen::VectorXd values;   // wanted order: best first
    Eigen::MatrixXd vectors;  // coefficients in the basis, one column each
};

// All Ritz pairs of the projected matrix, the wanted end first.
RitzPairs ritz_pairs(const Krylov& krylov, bool largest) {
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(krylov.projected());
    RitzPairs pairs{solver.eigenvalues(), solver.eigenvectors()};  // ascending
    if (largest) {
        pairs.values.reverseInPlace();
        pairs.vectors.rowwise().reverseInPlace();
    }
    return pairs;
}

// Residuals, error estimates and convergence of the k wanted pairs.
// `whole_space`: the basis spans the operator's whole space, so the Ritz
// pairs are its eigenpairs and can move no more: no move term, and no
// min_products (the products' own noise still bounds the estimate).
void assess(const Krylov& krylov, const RitzPairs& pairs, const LanczosOptions& options, bool whole_space,
            LanczosResult& result) {
    const int64_t k = std::min<int64_t>(options.count, pairs.values.size());
    const double beta = krylov.residual_norm();
    const double largest_magnitude = pairs.values.cwiseAbs().maxCoeff();
    const std::vector<double> previous = result.values;
    result.values.assign(static_cast<std::size_t>(options.count), NAN);
    result.residuals.assign(static_cast<std::size_t>(options.count), NAN);
    result.error_estimates.assign(static_cast<std::size_t>(options.count), NAN);
    result.converged.assign(static_cast<std::size_t>(options.count), false);
    result.scales.assign(static_cast<std::size_t>(options.count), NAN);
    for (int64_t i = 0; i < k; ++i) {
        const double theta = pairs.values[i];
        const double residual = beta * std::abs(krylov.coupling().dot(pairs.vectors.col(i)));
        double gap = std::numeric_limits<double>::infinity();
        for (Eigen::Index j = 0; j < pairs.values.size(); ++j)
            if (j != i) gap = std::min(gap, std::abs(theta - pairs.values[j]));
        // With no other Ritz value (one basis vector) there is no gap estimate.
        const double bound = std::isfinite(gap) && gap > 0 ? std::min(residual, residual * residual / gap) : residual;
        // The Ritz gap can exceed the true one early on (a Ritz value between
        // two close eigenvalues), so the estimate is never below the last
        // product's move of the Ritz value: still moving is not converged.
        const auto at = static_cast<std::size_t>(i);
        const double move = whole_space ? 0.0
                            : at < previous.size() && std::isfinite(previous[at])
                                ? std::abs(theta - previous[at])
                                : std::numeric_limits<double>::infinity();
        const double estimate = std::max({bound, move, options.relative_noise * largest_magnitude});
        result.values[at] = theta;
        result.residuals[at] = residual;
        result.error_estimates[at] = estimate;
        result.scales[at] = lanczos_scale(theta, largest_magnitude);
        result.converged[at] =
            estimate <= options.tol * result.scales[at] && (whole_space || result.products >= options.min_products);
    }
}

}  // namespace

double lanczos_scale(double value, double largest_magnitude) {
    return std::max(std::abs(value), 1e-3 * largest_magnitude);
}

void LanczosOptions::validate() const {
    if (count < 1) throw SettingError("count", fmt::format("must be at least 1 (got {})", count));
    if (!(tol > 0 && tol < 1))
        throw SettingError("tol", fmt::format("must be between 0 and 1, e.g. 1e-4 (got {})", tol));
    if (ncv != 0 && ncv <= count)
        throw SettingError("ncv", fmt::format("must be 0 (automatic) or greater than the number of eigenvalues "
                                                    "({}), got {}",
                                                    count, ncv));
    if (max_products < 1) throw SettingError("max_products", fmt::format("must be at least 1 (got {})", max_products));
    if (min_products < 1 || min_products > max_products)
        throw SettingError("min_products", fmt::format("must be between 1 and the product budget ({}), got {}",
                                                       max_products, min_products));
    if (!(relative_noise >= 0 && relative_noise < 1))
        throw SettingError("relative_noise", fmt::format("must be in [0, 1) (got {})", relative_noise));
    if (!(max_seconds >= 0))
        throw SettingError("max_seconds", fmt::format("must not be negative; 0 sets no limit (got {})", max_seconds));
}

LanczosResult lanczos_eigenpairs(const std::function<torch::Tensor(const torch::Tensor&)>& apply, int64_t n,
                                 const LanczosOptions& options,
                                 const std::function<void(const LanczosResult&)>& after_product) {
    options.validate();
    if (options.count >= n)
        throw SettingError("count", fmt::format("{} eigenvalues of a {} x {} operator: Lanczos needs fewer", options.count,
                                                n, n));
    const int64_t capacity = std::min(n, options.ncv > 0 ? options.ncv
                                                               : std::max<int64_t>(2 * options.count + 10, 30));
    const auto start = std::chrono::steady_clock::now();
    Krylov krylov(n, capacity, options.seed, options.start_hint);
    LanczosResult result;
    RitzPairs pairs;
    for (;;) {
        krylov.expand(apply);
        ++result.products;
        pairs = ritz_pairs(krylov, options.largest);
        assess(krylov, pairs, options, krylov.size() == n, result);
        if (after_product) after_product(result);
        const bool all = std::all_of(result.converged.begin(), result.converged.end(), [](bool c) { return c; });
        // The whole space spanned: the Ritz pairs are the eigenpairs (assess
        // judged them so); more products cannot improve them.
        if (all || krylov.size() == n) {
            result.stop = LanczosStop::converged;
            break;
        }
        if (result.products >= options.max_products) {
            result.stop = LanczosStop::product_budget;
            break;
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (options.max_seconds > 0 && seconds >= options.max_seconds) {
            result.stop = LanczosStop::time_budget;
            break;
        }
        if (krylov.size() == capacity) {
            // Thick restart: keep the wanted pairs and half the rest nearest them.
            const int64_t keep = std::min(capacity - 1, options.count + (capacity - options.count) / 2);
            krylov.restart(pairs.vectors.leftCols(keep), pairs.values.head(keep));
            ++result.restarts;
        }
    }
    result.vectors = torch::zeros({n, options.count}, torch::kFloat64);
    for (int64_t i = 0; i < std::min<int64_t>(options.count, pairs.values.size()); ++i)
        result.vectors.select(1, i).copy_(krylov.ritz_vector(pairs.vectors.col(i)));
    return result;
}

}  // namespace cellscape
