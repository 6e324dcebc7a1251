// The top Hessian eigenvalue of a softmax regression through cellscape's
// public API, checked against the closed-form Hessian diagonalized by Eigen.
// Prints both and exits 0 when they agree to 1e-9 relative.
#include <cellscape/analysis/hessian.hpp>
#include <cellscape/cellscape.hpp>

#include <Eigen/Eigenvalues>

#include <cmath>
#include <cstdio>
#include <memory>

int main() {
    constexpr int64_t samples = 40, features = 5, classes = 3;
    torch::manual_seed(7);
    const torch::Tensor x = torch::randn({samples, features}, torch::kFloat64);
    const torch::Tensor y = torch::arange(samples) % classes;
    torch::nn::Linear linear(torch::nn::LinearOptions(features, classes));
    linear->to(torch::kFloat64);

    cellscape::ObjectiveOptions options;
    options.dtype = cellscape::Precision::float64;
    options.batch_size = 16;
    auto model = std::make_unique<cellscape::ModuleModel>(
        linear.ptr(), [linear](const torch::Tensor& inputs) mutable { return linear->forward(inputs); });
    cellscape::Objective objective(std::move(model), {x, y}, options, {});
    cellscape::EigenOptions eigen;
    eigen.tol = 1e-10;
    const cellscape::EigenResult top = cellscape::hessian_extreme_eigenpairs(objective, eigen, true);

    // Mean cross-entropy of softmax(W x + b): the Hessian over (W row-major, b)
    // is the mean over samples of (diag(p) - p p^T) kron (z z^T), z = (x, 1),
    // with the bias entries moved after all weights.
    const torch::Tensor p = torch::softmax(linear->forward(x), 1).detach();
    const int64_t n = classes * (features + 1);
    Eigen::MatrixXd hessian = Eigen::MatrixXd::Zero(n, n);
    auto index = [&](int64_t k, int64_t i) { return i < features ? k * features + i : classes * features + k; };
    for (int64_t s = 0; s < samples; ++s)
        for (int64_t k = 0; k < classes; ++k)
            for (int64_t l = 0; l < classes; ++l) {
                const double curvature = (k == l ? p[s][k].item<double>() : 0.0) -
                                         p[s][k].item<double>() * p[s][l].item<double>();
                for (int64_t i = 0; i <= features; ++i)
                    for (int64_t j = 0; j <= features; ++j) {
                        const double zi = i < features ? x[s][i].item<double>() : 1.0;
                        const double zj = j < features ? x[s][j].item<double>() : 1.0;
                        hessian(index(k, i), index(l, j)) += curvature * zi * zj / samples;
                    }
            }
    const double reference = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(hessian).eigenvalues().maxCoeff();
    const double error = std::abs(top.values.front() - reference) / reference;
    std::printf("cellscape %s: top eigenvalue %.12g, closed form %.12g, relative difference %.1e\n",
                cellscape::version, top.values.front(), reference, error);
    return top.converged.front() && error < 1e-9 ? 0 : 1;
}
