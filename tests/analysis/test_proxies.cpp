// Zero-cost proxies against closed forms on softmax regression (one linear
// layer, whose weight W is the only layer weight): the gradient and the
// Hessian of the mean cross-entropy are known without autograd, synflow's
// input is all ones, and every sample's input gradient of the summed
// outputs is the same vector. tests/cli/test_proxies_reference.py checks
// the DARTS network against the reference code.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <Eigen/LU>
#include <cmath>

#include "cellscape/analysis/proxies.hpp"
#include "cellscape/nn/forward_observer.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;

namespace {

constexpr int64_t samples = 12, features = 5, classes = 3;

struct Regression {
    torch::nn::Linear linear{torch::nn::LinearOptions(features, classes)};
    LabelledImages data;
    std::unique_ptr<Model> model;

    // `observed`: the forward pass shows the linear layer's output to a
    // ForwardObserver, as cellscape's own networks do.
    explicit Regression(bool observed = false) {
        torch::manual_seed(5);
        linear->to(torch::kFloat64);
        data = {torch::randn({samples, features}, torch::kFloat64), torch::arange(samples) % classes};
        auto forward = [module = linear, observed](const torch::Tensor& x) mutable {
            return observed ? nn::observe_layer_output(module->weight, module->forward(x)) : module->forward(x);
        };
        model = std::make_unique<ModuleModel>(linear.ptr(), forward, std::vector<std::pair<std::string, std::string>>{},
                                              observed);
    }
    torch::Tensor weight() const { return linear->weight.detach().clone(); }
    torch::Tensor bias() const { return linear->bias.detach().clone(); }
};

// dL/dW of the mean cross-entropy over rows [first, first + count):
// (1/N) sum_n (softmax(W x_n + b) - onehot(y_n)) x_n^T.
torch::Tensor closed_form_gradient(const Regression& r, int64_t first, int64_t count) {
    const torch::Tensor x = r.data.images.narrow(0, first, count);
    const torch::Tensor y = torch::one_hot(r.data.labels.narrow(0, first, count), classes).to(torch::kFloat64);
    const torch::Tensor p = torch::softmax(x.matmul(r.weight().t()) + r.bias(), 1);
    return (p - y).t().matmul(x) / static_cast<double>(count);
}

// The Hessian over W (row-major) of the mean cross-entropy:
// (1/N) sum_n (diag(p_n) - p_n p_n^T) kron (x_n x_n^T).
torch::Tensor closed_form_hessian(const Regression& r) {
    const torch::Tensor x = r.data.images;
    const torch::Tensor p = torch::softmax(x.matmul(r.weight().t()) + r.bias(), 1);
    torch::Tensor h = torch::zeros({classes * features, classes * features}, torch::kFloat64);
    for (int64_t n = 0; n < samples; ++n)
        h += torch::kron(torch::diag(p[n]) - torch::outer(p[n], p[n]), torch::outer(x[n], x[n]));
    return h / static_cast<double>(samples);
}

ProxyScores run(Regression& r, std::vector<Proxy> proxies) {
    ProxyOptions options;
    options.proxies = std::move(proxies);
    options.dtype = Precision::float64;
    return zero_cost_proxies(*r.model, r.data, options);
}

// Every closed form is computed in float64 from the same weights by other
// operations (matrix products, a Kronecker sum) than autograd's: the two
// agree to rounding, ~1e-15 relative per term over at most a few hundred
// terms. 1e-10 leaves a wide margin, while a changed formula (a square, a
// sign, the bias counted as a layer weight) moves the scores by far more.
constexpr double rtol = 1e-10;

}  // namespace

TEST_CASE("grad_norm, snip and grasp are the closed-form gradient and Hessian's sums") {
    Regression r;
    const ProxyScores scores = run(r, {Proxy::grad_norm, Proxy::snip, Proxy::grasp});
    const torch::Tensor g = closed_form_gradient(r, 0, samples);
    const torch::Tensor w = r.weight();
    CHECK(scores.at(Proxy::grad_norm) == Approx(g.norm().item<double>()).epsilon(rtol));
    CHECK(scores.at(Proxy::snip) == Approx((w * g).abs().sum().item<double>()).epsilon(rtol));
    const torch::Tensor hg = closed_form_hessian(r).matmul(g.flatten()).reshape({classes, features});
    CHECK(scores.at(Proxy::grasp) == Approx((-w * hg).sum().item<double>()).epsilon(rtol));
    CHECK(scores.layer_weights == classes * features);  // W only: the bias has one dimension
    CHECK(scores.samples == samples);
}

TEST_CASE("synflow of a linear layer is the sum of |W|: dR/dW is the all-ones input") {
    Regression r;
    const ProxyScores scores = run(r, {Proxy::synflow});
    CHECK(scores.at(Proxy::synflow) == Approx(r.weight().abs().sum().item<double>()).epsilon(rtol));
}

TEST_CASE("jacob_cov of a linear layer: identical input gradients, a correlation matrix of ones") {
    // Every sample's input gradient of the summed outputs is the column sums
    // of W, so the correlations are all 1: eigenvalues N once and 0 N - 1 times.
    Regression r;
    const ProxyScores scores = run(r, {Proxy::jacob_cov});
    const double k = 1e-5, n = samples;
    const double expected = -(std::log(n + k) + 1 / (n + k) + (n - 1) * (std::log(k) + 1 / k));
    // The zero eigenvalues come out as rounding (|v| ~ N eps ~ 3e-15), which
    // moves each 1 / (v + k) by v / k ~ 3e-10 relative: 1e-8.
    CHECK(scores.at(Proxy::jacob_cov) == Approx(expected).epsilon(1e-8));
}

TEST_CASE("fisher of a linear layer: each output's activation times its closed-form gradient") {
    // a = W x + b; dL/da_n = (softmax(a_n) - onehot(y_n)) / N; g_nk = a_nk dL/da_nk;
    // the layer's score is 0.5 mean_n g_nk^2 per class k, once per weight of the row.
    Regression r(true);
    const ProxyScores scores = run(r, {Proxy::fisher});
    const torch::Tensor a = r.data.images.matmul(r.weight().t()) + r.bias();
    const torch::Tensor y = torch::one_hot(r.data.labels, classes).to(torch::kFloat64);
    const torch::Tensor g = a * (torch::softmax(a, 1) - y) / static_cast<double>(samples);
    const double expected = features * (0.5 * g.square().mean(0)).sum().item<double>();
    CHECK(scores.at(Proxy::fisher) == Approx(expected).epsilon(rtol));
}

TEST_CASE("naswot counts the samples' agreeing ReLU signs and takes the log-determinant") {
    // One ReLU on 40 inputs before a linear layer: K_ij is the number of inputs
    // where samples i and j are on the same side of zero, counted by loops;
    // log |det K| from Eigen's LU. More inputs than samples keep K regular.
    constexpr int64_t n = 6, inputs = 40;
    torch::manual_seed(8);
    torch::nn::Linear linear(torch::nn::LinearOptions(inputs, classes));
    linear->to(torch::kFloat64);
    const LabelledImages data{torch::randn({n, inputs}, torch::kFloat64), torch::arange(n) % classes};
    ModuleModel model(
        linear.ptr(),
        [linear](const torch::Tensor& x) mutable {
            nn::observe_rectifier_input(x);
            return linear->forward(torch::relu(x));
        },
        {}, /*observed=*/true);
    ProxyOptions options;
    options.proxies = {Proxy::naswot};
    options.dtype = Precision::float64;
    const double score = zero_cost_proxies(model, data, options).at(Proxy::naswot);
    const auto x = data.images.accessor<double, 2>();
    Eigen::MatrixXd k = Eigen::MatrixXd::Zero(n, n);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
            for (int64_t f = 0; f < inputs; ++f) k(i, j) += (x[i][f] > 0) == (x[j][f] > 0) ? 1 : 0;
    const Eigen::PartialPivLU<Eigen::MatrixXd> lu(k);
    double log_determinant = 0;
    for (int64_t i = 0; i < n; ++i) log_determinant += std::log(std::abs(lu.matrixLU()(i, i)));
    // K holds integers below 40, exact in both; the two factorizations round alike to ~1e-14.
    CHECK(score == Approx(log_determinant).epsilon(rtol));
}

TEST_CASE("fisher and naswot refuse a model that does not show its layers, and say how to go on") {
    Regression r;  // a plain LibTorch module: its forward pass shows nothing
    ProxyOptions options;
    options.dtype = Precision::float64;
    options.proxies = {Proxy::fisher};
    const ProxyScores alone = zero_cost_proxies(*r.model, r.data, options);
    CHECK(alone.scores.empty());
    REQUIRE(alone.refusal(Proxy::fisher));
    CHECK_THAT(*alone.refusal(Proxy::fisher),
               Contains("needs the model's layer outputs") && Contains("save it as TorchScript"));
    // With another proxy asked for, that one is computed and naswot's refusal recorded beside it.
    options.proxies = {Proxy::snip, Proxy::naswot};
    const ProxyScores both = zero_cost_proxies(*r.model, r.data, options);
    CHECK(std::isfinite(both.at(Proxy::snip)));
    CHECK_FALSE(both.refusal(Proxy::snip));
    REQUIRE(both.refusal(Proxy::naswot));
    CHECK_THAT(*both.refusal(Proxy::naswot), Contains("needs the model's ReLU inputs"));
    CHECK_THROWS_WITH(both.at(Proxy::naswot), Contains("was not computed"));
}

TEST_CASE("jacob_cov is not defined where BatchNorm on the batch makes the summed logits constant") {
    // Linear then BatchNorm1d in training mode: each logit column has the
    // batch mean beta, so the sum over the batch is N * sum(beta) whatever
    // the input, and its input gradient is zero in exact arithmetic. With a
    // ReLU after the BatchNorm the sum depends on the input again.
    torch::manual_seed(5);
    const LabelledImages data{torch::randn({16, 6}, torch::kFloat64), torch::arange(16) % 3};
    auto model_of = [](torch::nn::Sequential net) {
        net->to(torch::kFloat64);
        return std::make_unique<ModuleModel>(net.ptr(), [net](const torch::Tensor& x) mutable { return net->forward(x); });
    };
    ProxyOptions options;
    options.dtype = Precision::float64;
    options.proxies = {Proxy::jacob_cov, Proxy::grad_norm};
    const ProxyScores constant =
        zero_cost_proxies(*model_of(torch::nn::Sequential(torch::nn::Linear(6, 3), torch::nn::BatchNorm1d(3))), data,
                          options);
    REQUIRE(constant.refusal(Proxy::jacob_cov));
    CHECK_THAT(*constant.refusal(Proxy::jacob_cov), Contains("not defined for this model") && Contains("rounding"));
    CHECK(std::isfinite(constant.at(Proxy::grad_norm)));
    const ProxyScores varying = zero_cost_proxies(
        *model_of(torch::nn::Sequential(torch::nn::Linear(6, 3), torch::nn::BatchNorm1d(3), torch::nn::ReLU())), data,
        options);
    CHECK_FALSE(varying.refusal(Proxy::jacob_cov));
    CHECK(std::isfinite(varying.at(Proxy::jacob_cov)));
}

TEST_CASE("zico from two batches' closed-form gradients") {
    Regression r;
    ProxyOptions options;
    options.proxies = {Proxy::zico};
    options.dtype = Precision::float64;
    options.zico_batches = 2;
    const double score = zero_cost_proxies(*r.model, r.data, options).at(Proxy::zico);
    const torch::Tensor g1 = closed_form_gradient(r, 0, samples / 2), g2 = closed_form_gradient(r, samples / 2, samples / 2);
    // Two values: mean |g| = (|g1| + |g2|) / 2, population deviation = |g1 - g2| / 2.
    const torch::Tensor ratio = (g1.abs() + g2.abs()) / (g1 - g2).abs();
    CHECK(score == Approx(std::log(ratio.sum().item<double>())).epsilon(rtol));
}

TEST_CASE("proxies leave the model's parameters and buffers as they found them") {
    torch::manual_seed(3);
    torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1).bias(false)),
                              torch::nn::BatchNorm2d(4), torch::nn::ReLU(), torch::nn::Flatten(),
                              torch::nn::Linear(4 * 6 * 6, 3));
    net->to(torch::kFloat64);
    ModuleModel model(net.ptr(), [net](const torch::Tensor& x) mutable { return net->forward(x); });
    const LabelledImages data{torch::randn({8, 1, 6, 6}, torch::kFloat64), torch::arange(8) % 3};
    std::vector<torch::Tensor> before;
    for (const auto& [name, tensor] : model.named_parameters()) before.push_back(tensor.detach().clone());
    for (const auto& [name, tensor] : model.named_buffers()) before.push_back(tensor.detach().clone());
    ProxyOptions options;
    options.dtype = Precision::float64;
    // fisher and naswot need a model that shows its layers (the test above);
    // tests/cli/test_proxies_reference.py runs all of them together on DARTS networks.
    options.proxies = {Proxy::grad_norm, Proxy::snip, Proxy::grasp, Proxy::synflow, Proxy::jacob_cov, Proxy::zico};
    const ProxyScores all = zero_cost_proxies(model, data, options);
    std::size_t i = 0;
    for (const auto& [name, tensor] : model.named_parameters()) CHECK(torch::equal(tensor, before.at(i++)));
    for (const auto& [name, tensor] : model.named_buffers()) CHECK(torch::equal(tensor, before.at(i++)));
    // So each proxy computed alone gives what it gave among the others.
    for (const auto& [proxy, score] : all.scores) {
        ProxyOptions alone = options;
        alone.proxies = {proxy};
        INFO(name_of(proxy));
        CHECK(zero_cost_proxies(model, data, alone).at(proxy) == Approx(score).epsilon(1e-12));
    }
}

TEST_CASE("proxy settings that cannot work are refused by name") {
    Regression r;
    ProxyOptions options;
    options.zico_batches = 5;  // 12 samples do not split into 5 equal batches
    CHECK_THROWS_WITH(zero_cost_proxies(*r.model, r.data, options), Contains("zico_batches: must divide the 12"));
    options.zico_batches = 1;
    CHECK_THROWS_WITH(zero_cost_proxies(*r.model, r.data, options), Contains("zico_batches: must be between 2"));
    options.zico_batches = 2;
    options.proxies = {Proxy::snip, Proxy::snip};
    CHECK_THROWS_WITH(zero_cost_proxies(*r.model, r.data, options), Contains("proxies: names snip twice"));
    options.proxies.clear();
    CHECK_THROWS_WITH(zero_cost_proxies(*r.model, r.data, options), Contains("proxies: names none"));
}
