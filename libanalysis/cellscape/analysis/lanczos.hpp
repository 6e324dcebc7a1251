#pragma once
// Extreme eigenpairs of a symmetric operator seen only through products
// y = A x, by thick-restart Lanczos with full reorthogonalization (Wu and
// Simon, SIAM J. Matrix Anal. Appl. 22, 2000). It checks every Ritz pair's
// residual after each product and stops at the first product that meets the
// tolerance, so cheap problems cost few products; the basis is bounded and
// restarted from the best Ritz vectors when it fills up.
//
// What it relies on: with a basis V kept orthonormal and H V = V T + f b^T
// (f orthogonal to V), a Ritz pair (theta, y = V s) of the projected T has
// residual ||A y - theta y|| = ||f|| |b.s|, known without another product.
// Some eigenvalue of A lies within that residual r of theta (Weyl), and
// within r^2 / gap when the other eigenvalues are at least `gap` away
// (Kato-Temple); the gap is estimated by the distance to the other Ritz
// values. That estimate can be optimistic while a Ritz value still sits
// between two eigenvalues, so the error estimate is also never below the
// Ritz value's move over the last product.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cellscape/util/names.hpp"

namespace cellscape {

struct LanczosOptions {
    int64_t count = 1;       // k eigenpairs
    bool largest = true;     // the k largest (algebraic), else the k smallest
    // The names of ARPACK, Spectra and scipy's eigsh, as EigenOptions (hessian.hpp).
    double tol = 1e-4;       // on each eigenvalue's error estimate, relative (see lanczos_scale)
    int64_t ncv = 0;         // basis size before a thick restart; 0: min(n, max(2k + 10, 30))
    int64_t max_products = 1000;  // product budget
    // No pair counts as converged before this many products. A Ritz pair can
    // meet the tolerance while the start's component along a larger
    // eigenvector is still too small to show: a few products in, the basis
    // has converged to the second eigenvalue as if it were the first.
    int64_t min_products = 1;
    double max_seconds = 0;       // time budget; 0: none
    uint64_t seed = 0;            // of the Gaussian starting vector
    // The products' own relative accuracy (e.g. float32 rounding): the
    // residuals come from the Lanczos relation, which cannot see errors in
    // the products, so no error estimate is taken below this times the
    // largest |Ritz value|. A tolerance below it ends at the budget.
    double relative_noise = 0;
    // When defined (n values): a direction believed rich in the wanted
    // eigenvectors, added to the Gaussian start at equal norm. The Gaussian
    // half keeps every direction in reach; the other half can save products.
    torch::Tensor start_hint;
    void validate() const;  // SettingError "count", "tol", "ncv", "max_products", "min_products", "max_seconds"
};

enum class LanczosStop { converged, product_budget, time_budget };
template <>
struct EnumNames<LanczosStop> {
    static constexpr std::array<std::pair<std::string_view, LanczosStop>, 3> values{{
        {"converged", LanczosStop::converged},
        {"product budget spent", LanczosStop::product_budget},
        {"time budget spent", LanczosStop::time_budget}}};
};
inline std::string describe(LanczosStop stop) { return std::string(name_of(stop)); }

struct LanczosResult {
    // The k best Ritz pairs, largest first (or smallest first): converged or not.
    std::vector<double> values;
    std::vector<double> residuals;        // ||A y - theta y||, absolute: an eigenvalue lies this close
    std::vector<double> error_estimates;  // max(min(residual, residual^2 / gap), last move), absolute
    std::vector<bool> converged;          // error estimate <= tolerance x scale, after min_products
    std::vector<double> scales;           // that scale per pair (lanczos_scale over all Ritz values)
    torch::Tensor vectors;                // n x k, float64, unit norm
    int64_t products = 0;
    int64_t restarts = 0;
    LanczosStop stop = LanczosStop::converged;
};

// The scale an error is relative to: |theta|, but at least 1e-3 of the
// largest |Ritz value| (an eigenvalue near zero has no relative accuracy).
double lanczos_scale(double value, double largest_magnitude);

// `apply` maps a float64 CPU vector of length n to A times it; `after_product`
// (optional) sees the result so far after each product.
LanczosResult lanczos_eigenpairs(const std::function<torch::Tensor(const torch::Tensor&)>& apply, int64_t n,
                                 const LanczosOptions& options,
                                 const std::function<void(const LanczosResult&)>& after_product = {});

}  // namespace cellscape
