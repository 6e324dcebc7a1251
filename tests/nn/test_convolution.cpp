// The convolution with fast derivatives (nn/convolution.hpp) against
// LibTorch's own conv2d: values, gradients, Hessian-vector products and a
// third derivative, for every geometry the DARTS operations use and some they
// do not. float64 throughout; the two paths sum in different orders, so they
// agree to rounding (1e-12 relative), not bitwise.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <string>
#include <vector>

#include "cellscape/nn/convolution.hpp"

using namespace cellscape;
using torch::Tensor;

namespace {

struct Case {
    std::string name;
    int64_t in, out, groups;
    std::array<int64_t, 2> kernel, stride, padding, dilation;
    int64_t height, width;
};

const std::vector<Case> cases = {
    {"depthwise 3x3", 4, 4, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 9, 8},
    {"depthwise 5x5 stride 2", 4, 4, 4, {5, 5}, {2, 2}, {2, 2}, {1, 1}, 9, 8},
    {"dilated depthwise 3x3", 4, 4, 4, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 9, 8},
    {"dilated depthwise 5x5 stride 2", 4, 4, 4, {5, 5}, {2, 2}, {4, 4}, {2, 2}, 11, 7},
    {"dilated 3x3 on a 1x2 map (empty phases)", 4, 4, 4, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 1, 2},
    {"pointwise 1x1", 4, 6, 1, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 7, 7},
    {"pointwise 1x1 stride 2 (factorized reduce)", 4, 2, 1, {1, 1}, {2, 2}, {0, 0}, {1, 1}, 7, 8},
    {"1x7 then stride (1, 2)", 3, 3, 1, {1, 7}, {1, 2}, {0, 3}, {1, 1}, 6, 9},
    {"7x1, stride (2, 1)", 3, 3, 1, {7, 1}, {2, 1}, {3, 0}, {1, 1}, 9, 6},
    {"grouped 3x3, 2 groups, unpadded", 4, 6, 2, {3, 3}, {1, 1}, {0, 0}, {1, 1}, 6, 7},
    {"dense 3x3 with uneven dilation", 3, 5, 1, {3, 3}, {1, 1}, {1, 2}, {1, 2}, 8, 9},
};

Tensor builtin(const Tensor& x, const Tensor& w, const Case& c) {
    return torch::conv2d(x, w, {}, c.stride, c.padding, c.dilation, c.groups);
}

Tensor fast(const Tensor& x, const Tensor& w, const Case& c) {
    return nn::convolution(x, w, {c.stride, c.padding, c.dilation, c.groups});
}

double relative_difference(const Tensor& a, const Tensor& b) {
    return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-300);
}

// Derivatives of a non-linear loss of the convolution, up to third order:
// the gradient, the Hessian-vector product in direction (u, v), and the
// gradient of <HVP, (u, v)> (a third derivative).
// Drawn on the CPU, computed on `device`, returned on the CPU.
template <class Convolve>
std::vector<Tensor> derivatives(const Case& c, bool channels_last, Convolve conv,
                                torch::Device device = torch::kCPU) {
    torch::manual_seed(3);
    const auto options = torch::TensorOptions().dtype(torch::kFloat64).device(device);
    Tensor x = torch::randn({2, c.in, c.height, c.width}, torch::kFloat64).to(device);
    Tensor w = (torch::randn({c.out, c.in / c.groups, c.kernel[0], c.kernel[1]}, torch::kFloat64) * 0.5).to(device);
    if (channels_last) {
        x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        w = w.contiguous(torch::MemoryFormat::ChannelsLast);
    }
    x.requires_grad_();
    w.requires_grad_();
    const Tensor u = torch::randn(x.sizes(), torch::kFloat64).to(device);
    const Tensor v = torch::randn(w.sizes(), torch::kFloat64).to(device);
    const Tensor y = conv(x, w, c);
    const Tensor loss = (torch::tanh(y) * torch::linspace(-1, 1, y.numel(), options).view_as(y)).sum();
    const auto gradient = torch::autograd::grad({loss}, {x, w}, {}, true, true);
    const Tensor directional = (gradient[0] * u).sum() + (gradient[1] * v).sum();
    const auto hvp = torch::autograd::grad({directional}, {x, w}, {}, true, true);
    const Tensor curvature = (hvp[0] * u).sum() + (hvp[1] * v).sum();
    const auto third = torch::autograd::grad({curvature}, {x, w});
    std::vector<Tensor> results = {y, gradient[0], gradient[1], hvp[0], hvp[1], third[0], third[1]};
    for (Tensor& result : results) result = result.detach().to(torch::kCPU);
    return results;
}

}  // namespace

TEST_CASE("the fast convolution has LibTorch's values and first, second and third derivatives") {
    const std::vector<std::string> names = {"output", "d/dx", "d/dw", "HVP x", "HVP w", "third x", "third w"};
    for (const Case& c : cases)
        for (bool channels_last : {false, true}) {
            const auto expected = derivatives(c, channels_last, builtin);
            const auto actual = derivatives(c, channels_last, fast);
            for (std::size_t i = 0; i < expected.size(); ++i) {
                INFO(c.name << (channels_last ? ", channels-last, " : ", contiguous, ") << names[i]);
                REQUIRE(actual[i].sizes() == expected[i].sizes());
                CHECK(relative_difference(actual[i], expected[i]) < 1e-12);
            }
        }
}

// Hidden: scripts/gpu-check.sh runs the [cuda] tests on a GPU machine; run
// anywhere else they fail at the first REQUIRE rather than pass unseen.
TEST_CASE("on CUDA, the fast convolution has LibTorch's CPU values and derivatives", "[.cuda]") {
    REQUIRE(torch::cuda::is_available());
    const std::vector<std::string> names = {"output", "d/dx", "d/dw", "HVP x", "HVP w", "third x", "third w"};
    for (const Case& c : cases)
        for (bool channels_last : {false, true}) {
            const auto expected = derivatives(c, channels_last, builtin);
            const auto actual = derivatives(c, channels_last, fast, torch::kCUDA);
            for (std::size_t i = 0; i < expected.size(); ++i) {
                INFO(c.name << (channels_last ? ", channels-last, " : ", contiguous, ") << names[i]);
                REQUIRE(actual[i].sizes() == expected[i].sizes());
                // cuDNN's float64 algorithms sum in other orders than the CPU's: 1e-10.
                CHECK(relative_difference(actual[i], expected[i]) < 1e-10);
            }
        }
}

TEST_CASE("convolve applies a module's weight, bias and geometry") {
    torch::manual_seed(4);
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3).stride(2).padding(1).dilation(1).bias(true));
    conv->to(torch::kFloat64);
    const Tensor x = torch::randn({2, 3, 7, 6}, torch::kFloat64);
    CHECK(relative_difference(nn::convolve(*conv, x), conv->forward(x)) < 1e-14);
    torch::nn::Conv2d same(torch::nn::Conv2dOptions(3, 4, 3).padding(torch::kSame));
    CHECK_THROWS_WITH(nn::convolve(*same, x.to(torch::kFloat32)), Catch::Matchers::Contains("explicit padding"));
}
