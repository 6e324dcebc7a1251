// Gradient variance against a closed form (softmax regression, whose
// per-sample gradients are (p - onehot(y)) x^T) and against a direct
// two-pass computation on a small network. float64, so 1e-10 relative
// bounds the difference between Welford's one pass and two passes.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/analysis/gradient_variance_file.hpp"
#include "support/temporary_directory.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using testing::TemporaryDirectory;
using Catch::Matchers::Contains;

namespace {

LabelledImages regression_data() {
    torch::manual_seed(7);
    return {torch::randn({60, 5}), torch::arange(60, torch::kInt64).remainder(3)};
}

ObjectiveOptions options_with_batches(int64_t batch_size) {
    ObjectiveOptions options;
    options.dtype = Precision::float64;
    options.batch_size = batch_size;
    return options;
}

// Linear(5, 8), Tanh, Linear(8, 3) on the regression data in batches of 10.
Objective two_layer_objective() {
    torch::manual_seed(9);
    namespace nn = torch::nn;
    nn::Sequential net(nn::Linear(5, 8), nn::Tanh(), nn::Linear(8, 3));
    auto model = std::make_unique<ModuleModel>(net.ptr(), [net](const torch::Tensor& x) mutable { return net->forward(x); });
    return Objective(std::move(model), regression_data(), options_with_batches(10), {});
}

// Each batch's gradient, one row per batch: the two-pass reference.
torch::Tensor batch_gradients(Objective& objective) {
    std::vector<torch::Tensor> gradients;
    for (std::size_t k = 0; k < objective.batch_count(); ++k) gradients.push_back(objective.batch_gradient(k));
    return torch::stack(gradients);
}

}  // namespace

TEST_CASE("softmax regression: the gradient variance matches the closed-form per-sample gradients") {
    torch::manual_seed(8);
    torch::nn::Linear linear(5, 3);
    auto model = std::make_unique<ModuleModel>(linear.ptr(), [linear](const torch::Tensor& x) mutable { return linear->forward(x); });
    const LabelledImages data = regression_data();
    Objective objective(std::move(model), data, options_with_batches(12), {});
    const GradientVariance result = gradient_variance(objective);

    // Closed form: batch gradient = mean over the batch of (p - onehot(y)) [x, 1]^T.
    const auto x = data.images.to(torch::kFloat64);
    const auto w = linear->weight.detach().to(torch::kFloat64);
    const auto b = linear->bias.detach().to(torch::kFloat64);
    const auto p = torch::softmax(x.mm(w.t()) + b, 1);
    const auto residual = p - torch::one_hot(data.labels, 3).to(torch::kFloat64);
    std::vector<torch::Tensor> batch_gradients;
    for (int64_t k = 0; k < 5; ++k) {
        const auto r = residual.narrow(0, k * 12, 12);
        const auto xk = x.narrow(0, k * 12, 12);
        batch_gradients.push_back(torch::cat({r.t().mm(xk).flatten() / 12.0, r.mean(0)}));  // weight, then bias
    }
    const auto stacked = torch::stack(batch_gradients);
    const double expected_variance = stacked.var(0, /*unbiased=*/true).sum().item<double>();
    const double expected_norm = stacked.mean(0).norm().item<double>();
    CHECK(result.batches == 5);
    CHECK(result.batch_size == 12);
    CHECK(result.total_variance == Approx(expected_variance).epsilon(1e-10));
    CHECK(result.gradient_norm == Approx(expected_norm).epsilon(1e-10));
    const double signal = expected_norm * expected_norm - expected_variance / 5;
    CHECK(result.noise_scale == Approx(12 * expected_variance / signal).epsilon(1e-9));
    REQUIRE(result.tensor_names == std::vector<std::string>{"weight", "bias"});
    CHECK(result.tensor_variance[1] ==
          Approx(stacked.narrow(1, 15, 3).var(0, true).sum().item<double>()).epsilon(1e-10));
}

TEST_CASE("Welford's one pass equals a two-pass computation on a small network") {
    Objective objective = two_layer_objective();
    const auto stacked = batch_gradients(objective);
    const GradientVariance result = gradient_variance(objective);
    CHECK(result.total_variance == Approx(stacked.var(0, true).sum().item<double>()).epsilon(1e-10));
    // The mean of equal-size batch gradients is the gradient over their union.
    CHECK(result.gradient_norm == Approx(objective.gradient().norm().item<double>()).epsilon(1e-10));
    double sum = 0;
    for (double v : result.tensor_variance) sum += v;
    CHECK(sum == Approx(result.total_variance).epsilon(1e-12));
}

TEST_CASE("the variance by part is the two-pass variance of the part's slice of the batch gradients") {
    // Sequential names its layers "0" (5 x 8 + 8), "1" (Tanh, no parameters), "2" (8 x 3 + 3).
    Objective objective = two_layer_objective();
    const auto stacked = batch_gradients(objective);  // batches x 75
    const GradientVariance result = gradient_variance(objective);
    const auto parts = gradient_variance_by_part(result, PartLevel::cell);
    REQUIRE(parts.size() == 2);
    const struct {
        const char* name;
        int64_t offset, length;
    } expected[] = {{"0", 0, 48}, {"2", 48, 27}};
    double sum = 0;
    for (std::size_t b = 0; b < 2; ++b) {
        const auto slice = stacked.narrow(1, expected[b].offset, expected[b].length);
        CHECK(parts[b].name == expected[b].name);
        CHECK(parts[b].tensors == 2);
        // Welford's one pass against two passes, float64: 1e-10 relative (as above).
        CHECK(parts[b].variance == Approx(slice.var(0, true).sum().item<double>()).epsilon(1e-10));
        CHECK(parts[b].gradient_norm == Approx(slice.mean(0).norm().item<double>()).epsilon(1e-10));
        CHECK(parts[b].snr == Approx(slice.mean(0).norm().item<double>() /
                                     std::sqrt(slice.var(0, true).sum().item<double>())).epsilon(1e-10));
        sum += parts[b].variance;
    }
    CHECK(sum == Approx(result.total_variance).epsilon(1e-12));
}

TEST_CASE("a gradient variance file's reader gives back the first model's values and parts") {
    const TemporaryDirectory dir;
    Objective objective = two_layer_objective();
    const GradientVariance first = gradient_variance(objective);
    GradientVariance second = first;  // a second model of the series, whose values must not be read as the first's
    second.total_variance *= 2;
    second.noise_scale *= 3;
    for (double& variance : second.tensor_variance) variance *= 2;
    write_gradient_variance_file(dir / "gradvar.h5", {"first", "second"}, {first, second}, objective.provenance(),
                                 "test", PartLevel::cell);
    const GradientVarianceFileValues values = read_gradient_variance_file(dir / "gradvar.h5");
    // float64 written and read back: equal bit for bit.
    CHECK(values.total_variance == first.total_variance);
    CHECK(values.noise_scale == first.noise_scale);
    const auto parts = gradient_variance_by_part(first, PartLevel::cell);
    const auto read = read_gradient_variance_parts(dir / "gradvar.h5");
    REQUIRE(read.size() == parts.size());
    for (std::size_t b = 0; b < parts.size(); ++b) {
        CHECK(read[b].name == parts[b].name);
        CHECK(read[b].variance == parts[b].variance);
        CHECK(read[b].gradient_norm == parts[b].gradient_norm);
    }
}

TEST_CASE("gradient variance needs at least two equal batches") {
    torch::nn::Linear linear(5, 3);
    auto model = std::make_unique<ModuleModel>(linear.ptr(), [linear](const torch::Tensor& x) mutable { return linear->forward(x); });
    Objective uneven(std::move(model), regression_data(), options_with_batches(25), {});
    CHECK_THROWS_WITH(gradient_variance(uneven), Contains("do not split into 3 equal batches"));
}
