// Thick-restart Lanczos (analysis/lanczos.hpp) on explicit symmetric
// matrices whose spectra are known, against Eigen's dense solver and against
// residuals recomputed here from the returned vectors. Float64 throughout:
// tolerances reflect the algorithm, not rounding of the operator.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <Eigen/Eigenvalues>
#include <chrono>
#include <thread>

#include "cellscape/analysis/lanczos.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;

namespace {

// Q diag(spectrum) Q^T with a seeded random orthogonal Q.
torch::Tensor with_spectrum(const torch::Tensor& spectrum, uint64_t seed = 7) {
    auto generator = at::detail::createCPUGenerator(seed);
    const int64_t n = spectrum.size(0);
    const auto q = std::get<0>(torch::linalg_qr(torch::randn({n, n}, generator, torch::kFloat64)));
    return q.matmul(torch::diag(spectrum)).matmul(q.t());
}

std::function<torch::Tensor(const torch::Tensor&)> product_of(const torch::Tensor& matrix) {
    return [matrix](const torch::Tensor& x) { return matrix.mv(x); };
}

// A spread-out spectrum: 10, 9, 8 well separated above a bulk in [-1, 4].
torch::Tensor spread_spectrum(int64_t n) {
    auto generator = at::detail::createCPUGenerator(3);
    auto spectrum = torch::rand({n}, generator, torch::kFloat64) * 5 - 1;
    spectrum[0] = 10;
    spectrum[1] = 9;
    spectrum[2] = 8;
    return spectrum;
}

}  // namespace

TEST_CASE("the extreme eigenpairs of an explicit matrix, with exact residuals") {
    const int64_t n = 120;
    const torch::Tensor a = with_spectrum(spread_spectrum(n));
    const auto sorted = std::get<0>(torch::sort(torch::linalg_eigvalsh(a)));  // the dense reference, ascending
    for (const bool largest : {true, false}) {
        INFO("largest: " << largest);
        LanczosOptions options;
        options.count = 3;
        options.largest = largest;
        options.tol = 1e-10;
        const LanczosResult result = lanczos_eigenpairs(product_of(a), n, options);
        CHECK(result.stop == LanczosStop::converged);
        for (int64_t i = 0; i < 3; ++i) {
            INFO(i);
            const double expected = sorted[largest ? n - 1 - i : i].item<double>();
            // 1e-10 relative asked; 1e-12 absolute more for the dense solver's rounding at scale 10.
            CHECK(std::abs(result.values[i] - expected) <= 1e-10 * std::abs(expected) + 1e-12);
            CHECK(result.converged[i]);
            // The residual from the Lanczos relation equals the one recomputed
            // from the vector, to rounding (1e-12 of the matrix's scale).
            const auto y = result.vectors.select(1, i);
            const double recomputed = (a.mv(y) - result.values[i] * y).norm().item<double>();
            CHECK(std::abs(result.residuals[i] - recomputed) <= 1e-12 * 10);
            CHECK(std::abs(y.norm().item<double>() - 1) <= 1e-12);
        }
    }
}

TEST_CASE("the error estimate bounds the true error when Lanczos stops") {
    // Stopping at a loose tolerance: the reported estimate must not promise
    // more than was reached, and the stop is the first product meeting it.
    const int64_t n = 300;
    const torch::Tensor a = with_spectrum(spread_spectrum(n), 11);
    for (const double tolerance : {1e-2, 1e-4, 1e-6}) {
        INFO("tolerance " << tolerance);
        LanczosOptions options;
        options.tol = tolerance;
        int64_t first_met = 0;
        const LanczosResult result = lanczos_eigenpairs(product_of(a), n, options, [&](const LanczosResult& so_far) {
            if (first_met == 0 && so_far.converged[0]) first_met = so_far.products;
        });
        CHECK(result.products == first_met);
        const double error = std::abs(result.values[0] - 10.0);
        CHECK(error <= result.error_estimates[0] + 1e-13);
        CHECK(error <= tolerance * 10.0);
        CHECK(result.residuals[0] >= result.error_estimates[0]);
    }
}

TEST_CASE("a start rich in the second eigenvector stops at the second eigenvalue unless enough products are made") {
    // A diagonal operator: the top eigenvalue 1.0 is 7% above the second
    // (0.93) and the rest lie in [0, 0.5]. The hint is the second
    // eigenvector, so the start's component along the first is only the
    // Gaussian half's, about n^-1/2 = 0.007. The Ritz value settles on 0.93
    // within a few products; the first eigenvector needs several more to grow
    // into view (about 1.7x a product at this gap).
    const int64_t n = 20000;
    auto generator = at::detail::createCPUGenerator(5);
    torch::Tensor spectrum = torch::rand({n}, generator, torch::kFloat64) * 0.5;
    spectrum[0] = 1.0;
    spectrum[1] = 0.93;
    const auto apply = [spectrum](const torch::Tensor& x) { return x * spectrum; };
    LanczosOptions options;
    options.tol = 1e-3;
    options.start_hint = torch::zeros({n}, torch::kFloat64);
    options.start_hint[1] = 1.0;
    const LanczosResult early = lanczos_eigenpairs(apply, n, options);
    INFO("early stop after " << early.products << " products at " << early.values[0]);
    CHECK(early.stop == LanczosStop::converged);
    CHECK(std::abs(early.values[0] - 0.93) < 1e-3);  // the failure the minimum guards against
    options.min_products = 12;
    const LanczosResult guarded = lanczos_eigenpairs(apply, n, options);
    INFO("guarded stop after " << guarded.products << " products at " << guarded.values[0]);
    CHECK(guarded.products >= 12);
    CHECK(std::abs(guarded.values[0] - 1.0) < 1e-3);
}

TEST_CASE("a small basis restarts and still finds the wanted pairs") {
    const int64_t n = 200;
    const torch::Tensor a = with_spectrum(spread_spectrum(n), 5);
    LanczosOptions options;
    options.count = 3;
    options.ncv = 6;
    options.tol = 1e-9;
    const LanczosResult result = lanczos_eigenpairs(product_of(a), n, options);
    CHECK(result.restarts > 0);  // 6 vectors cannot hold three pairs to 1e-9 here
    CHECK(result.stop == LanczosStop::converged);
    for (std::size_t i = 0; i < 3; ++i)
        CHECK(std::abs(result.values[i] - (10.0 - static_cast<double>(i))) <= 1e-9 * 10);
}

TEST_CASE("an invariant subspace ends the Krylov space without ending the search") {
    // Rank 2: a start vector spans 5, 3 and the null space's share; the
    // space is invariant after 3 products and those Ritz pairs are exact.
    const int64_t n = 40;
    auto spectrum = torch::zeros({n}, torch::kFloat64);
    spectrum[0] = 5;
    spectrum[1] = 3;
    LanczosOptions options;
    options.count = 3;
    options.tol = 1e-10;
    const LanczosResult low_rank = lanczos_eigenpairs(product_of(with_spectrum(spectrum)), n, options);
    REQUIRE(low_rank.stop == LanczosStop::converged);
    CHECK(low_rank.products == 4);  // and one more, to see the Ritz values stay put
    CHECK(std::abs(low_rank.values[0] - 5) <= 1e-12);
    CHECK(std::abs(low_rank.values[1] - 3) <= 1e-12);
    CHECK(std::abs(low_rank.values[2]) <= 1e-12);
    // 2 I: invariant after one product, with one of the two pairs asked for;
    // the second comes from a fresh direction orthogonal to the first.
    options.count = 2;
    const LanczosResult identity =
        lanczos_eigenpairs(product_of(2 * torch::eye(n, torch::kFloat64)), n, options);
    REQUIRE(identity.stop == LanczosStop::converged);
    CHECK(identity.products == 3);
    CHECK(std::abs(identity.values[0] - 2) <= 1e-12);
    CHECK(std::abs(identity.values[1] - 2) <= 1e-12);
    CHECK(std::abs(identity.vectors.select(1, 0).dot(identity.vectors.select(1, 1)).item<double>()) <= 1e-12);
}

TEST_CASE("an unreachable tolerance stops at the product or time budget, never silently") {
    const int64_t n = 100;
    const torch::Tensor a = with_spectrum(spread_spectrum(n));
    // Products with 1e-6 relative noise, like float32 HVPs: 1e-12 is out of reach.
    auto generator = at::detail::createCPUGenerator(1);
    const auto noisy = [&](const torch::Tensor& x) {
        const auto y = a.mv(x);
        return y + 1e-6 * y.norm() * torch::randn({n}, generator, torch::kFloat64) / std::sqrt(static_cast<double>(n));
    };
    LanczosOptions options;
    options.tol = 1e-12;
    options.max_products = 40;
    // The Lanczos relation does not see the noise (told nothing, the
    // residuals fall below it and the solver stops, "converged"): the floor.
    options.relative_noise = 1e-6;
    const LanczosResult budget = lanczos_eigenpairs(noisy, n, options);
    CHECK(budget.stop == LanczosStop::product_budget);
    CHECK(budget.products == 40);
    CHECK_FALSE(budget.converged[0]);
    CHECK(std::abs(budget.values[0] - 10) <= 1e-4);  // what was reached is still reported

    options.max_products = 100000;
    options.max_seconds = 0.2;
    const auto slow = [&](const torch::Tensor& x) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return noisy(x);
    };
    const LanczosResult timed = lanczos_eigenpairs(slow, n, options);
    CHECK(timed.stop == LanczosStop::time_budget);
    CHECK(timed.products < 100);
}

TEST_CASE("a basis that spans the whole space gives exact pairs, judged against the products' noise") {
    const int64_t n = 6;  // fewer than min_products and the basis size: the whole space before either
    const torch::Tensor spectrum = torch::tensor({5.0, 3.0, 2.0, 1.0, 0.5, -1.0}, torch::kFloat64);
    LanczosOptions options;
    options.tol = 1e-10;
    options.min_products = 8;
    const LanczosResult exact = lanczos_eigenpairs(product_of(with_spectrum(spectrum)), n, options);
    CHECK(exact.products == n);
    REQUIRE(exact.converged[0]);
    CHECK(std::abs(exact.values[0] - 5.0) < 1e-12);  // the projected matrix is the operator itself
    // Products noisy to 1e-6 (float32): the same basis is not 1e-10 exact, and says so.
    options.relative_noise = 1e-6;
    const LanczosResult noisy = lanczos_eigenpairs(product_of(with_spectrum(spectrum)), n, options);
    CHECK_FALSE(noisy.converged[0]);
    CHECK(noisy.error_estimates[0] >= 1e-6 * 5.0 * (1 - 1e-12));
    CHECK(noisy.stop == LanczosStop::converged);  // no product can improve it: not a budget stop
}

TEST_CASE("Lanczos settings are checked before any product") {
    const torch::Tensor a = with_spectrum(spread_spectrum(10));
    LanczosOptions options;
    options.count = 10;
    CHECK_THROWS_WITH(lanczos_eigenpairs(product_of(a), 10, options), Contains("Lanczos needs fewer"));
    options.count = 2;
    options.ncv = 2;
    CHECK_THROWS_WITH(lanczos_eigenpairs(product_of(a), 10, options), Contains("ncv"));
    options.ncv = 0;
    options.max_products = 0;
    CHECK_THROWS_WITH(lanczos_eigenpairs(product_of(a), 10, options), Contains("max_products"));
}
