// A TorchScript module run through cellscape's operators (nn/script_operators.hpp)
// against the same file run as saved, with LibTorch's own operators: which
// nodes are replaced, and the logits, gradient and Hessian-vector products,
// which must be the same function. float64 throughout; the folded batch norm
// and cellscape's convolution derivatives sum in other orders than LibTorch,
// so the two agree to rounding (1e-11 relative), not bitwise.
#include <catch2/catch.hpp>

#include <torch/script.h>
#include <torch/torch.h>

#include <string>

#include "cellscape/analysis/model.hpp"
#include "cellscape/analysis/objective.hpp"
#include "cellscape/nn/forward_observer.hpp"
#include "support/temporary_directory.hpp"

using namespace cellscape;
using testing::TemporaryDirectory;

namespace {

// Every node kind the rewrite handles, in the forms traced (aten::_convolution)
// and scripted (aten::conv2d, one-element geometry lists) modules use: a biased
// convolution with an eval batch norm after it (folded), a dilated depthwise
// one, a concatenation, a batch norm without affine parameters after it (an
// affine map), ReLUs, and a batch norm that follows self.training (left as is).
std::string write_module(const TemporaryDirectory& dir) {
    torch::manual_seed(5);
    torch::jit::Module module("Rewritable");
    module.register_attribute("training", c10::BoolType::get(), true);
    const auto parameter = [&](const char* name, torch::Tensor value) { module.register_parameter(name, value, false); };
    const auto buffer = [&](const char* name, torch::Tensor value) { module.register_buffer(name, value); };
    parameter("w1", torch::randn({4, 2, 3, 3}) * 0.4);
    parameter("b1", torch::randn({4}) * 0.1);
    parameter("g1", torch::rand({4}) + 0.5);
    parameter("be1", torch::randn({4}) * 0.1);
    buffer("m1", torch::randn({4}) * 0.2);
    buffer("v1", torch::rand({4}) + 0.5);
    parameter("w2", torch::randn({4, 1, 3, 3}) * 0.5);
    buffer("m2", torch::randn({8}) * 0.2);
    buffer("v2", torch::rand({8}) + 0.5);
    parameter("w3", torch::randn({3, 8, 3, 3}) * 0.2);
    parameter("g3", torch::rand({3}) + 0.5);
    parameter("be3", torch::randn({3}) * 0.1);
    buffer("m3", torch::randn({3}) * 0.2);
    buffer("v3", torch::rand({3}) + 0.5);
    parameter("wo", torch::randn({27, 3}) * 0.3);
    module.define(R"JIT(
def forward(self, x):
    h = torch._convolution(x, self.w1, self.b1, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, False, False, True, True)
    h = torch.batch_norm(h, self.g1, self.be1, self.m1, self.v1, False, 0.1, 1e-5, False)
    h = torch.relu(h)
    a = torch.conv2d(h, self.w2, None, [1], [2], [2], 4)
    h = torch.cat([a, h], 1)
    h = torch.batch_norm(h, None, None, self.m2, self.v2, False, 0.1, 1e-5, False)
    h = torch.relu(h)
    s = torch.conv2d(h, self.w3, None, [2, 2], [1, 1], [1, 1], 1)
    s = torch.batch_norm(s, self.g3, self.be3, self.m3, self.v3, self.training, 0.1, 1e-5, False)
    return torch.matmul(torch.tanh(s).flatten(1), self.wo)
)JIT");
    const auto path = (dir / "rewritable.pt").string();
    module.save(path);
    return path;
}

// 30 samples of 2x6x6 in 3 classes.
LabelledImages images() {
    torch::manual_seed(6);
    const auto labels = torch::arange(30, torch::kInt64).remainder(3);
    return {torch::randn({30, 2, 6, 6}) + labels.to(torch::kFloat32).view({30, 1, 1, 1}) * 0.5, labels};
}

Objective objective_of(const std::string& path, bool fast_operators) {
    ObjectiveOptions options;
    options.dtype = Precision::float64;
    options.batch_size = 12;  // three uneven batches
    return Objective(std::make_unique<ScriptModel>(path, fast_operators), images(), options, {});
}

double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).norm().item<double>() / b.norm().item<double>();
}

}  // namespace

TEST_CASE("the rewrite replaces convolutions, eval batch norms, ReLUs and concatenations, and nothing else") {
    TemporaryDirectory dir;
    const std::string path = write_module(dir);
    ScriptModel fast(path);
    const nn::ScriptRewrite& rewrite = fast.rewrite();
    CHECK(rewrite.convolutions == 3);
    CHECK(rewrite.folded_batch_norms == 1);
    CHECK(rewrite.batch_norms == 1);  // the one after the concatenation; self.training's stays
    CHECK(rewrite.rectifiers == 2);
    CHECK(rewrite.concatenations == 1);
    CHECK(ScriptModel(path, false).rewrite().total() == 0);
}

TEST_CASE("a module through cellscape's operators is the same function as the module as saved") {
    TemporaryDirectory dir;
    const std::string path = write_module(dir);
    ScriptModel fast(path), plain(path, false);
    for (Model* model : {static_cast<Model*>(&fast), static_cast<Model*>(&plain)}) {
        model->to(torch::kCPU, torch::kFloat64);
        model->set_training(false);
    }
    const torch::Tensor x = images().images.to(torch::kFloat64);
    // Rounding of the folded batch norm and of other summation orders: logits are O(1).
    CHECK(relative_difference(fast.forward(x), plain.forward(x)) < 1e-12);

    Objective with_rewrite = objective_of(path, true), as_saved = objective_of(path, false);
    REQUIRE(with_rewrite.dimension() == as_saved.dimension());
    CHECK(with_rewrite.dimension() == 72 + 4 + 4 + 4 + 36 + 216 + 3 + 3 + 81);
    CHECK(std::abs(with_rewrite.loss_and_accuracy().loss - as_saved.loss_and_accuracy().loss) < 1e-12);
    CHECK(relative_difference(with_rewrite.gradient(), as_saved.gradient()) < 1e-11);
    torch::manual_seed(7);
    for (int probe = 0; probe < 2; ++probe) {
        const torch::Tensor v = torch::randn({with_rewrite.dimension()}, torch::kFloat64);
        // Twice per vector: the first product builds the kept graphs, the second reuses them.
        for (int repeat = 0; repeat < 2; ++repeat)
            CHECK(relative_difference(with_rewrite.hessian_vector_product(v), as_saved.hessian_vector_product(v)) <
                  1e-11);
    }
}

TEST_CASE("a TorchScript graph shows its ReLUs and layers to an observer, but no convolution a batch norm was folded into") {
    // The module has 2 ReLUs and 3 convolutions (its matmul is no layer the
    // rewrite or the reference code knows). Through cellscape's operators the
    // first convolution carries its batch norm folded in: its own output is
    // gone, and Fisher is refused with the way out; as saved, all three show.
    struct Recorder : nn::ForwardObserver {
        std::vector<torch::Tensor> inputs, weights;
        void rectifier_input(const torch::Tensor& input) override { inputs.push_back(input.detach().clone()); }
        torch::Tensor layer_output(const torch::Tensor& weight, const torch::Tensor& output) override {
            weights.push_back(weight);
            return output * 2.0;  // what the observer returns is what the graph continues with
        }
    };
    TemporaryDirectory dir;
    const std::string path = write_module(dir);
    ScriptModel fast(path), plain(path, false);
    CHECK(fast.rectifier_inputs_hidden().empty());
    CHECK_THAT(fast.layer_outputs_hidden(), Catch::Matchers::Contains("1 convolutions") &&
                                                Catch::Matchers::Contains("load it as saved"));
    CHECK(plain.layer_outputs_hidden().empty());
    plain.to(torch::kCPU, torch::kFloat64);
    plain.set_training(false);
    const torch::Tensor x = images().images.to(torch::kFloat64);
    const torch::Tensor unobserved = plain.forward(x);
    Recorder recorder;
    torch::Tensor observed;
    {
        const nn::ForwardObserverGuard guard(recorder);
        observed = plain.forward(x);
    }
    REQUIRE(recorder.inputs.size() == 2);
    REQUIRE(recorder.weights.size() == 3);
    const NamedTensors tensors = [&] {
        NamedTensors all = plain.named_parameters(), buffers = plain.named_buffers();
        all.insert(all.end(), buffers.begin(), buffers.end());
        return all;
    }();
    auto parameter = [&](const std::string& name) {
        for (const auto& [key, value] : tensors)
            if (key == name) return value;
        FAIL("no tensor " << name);
        return torch::Tensor();
    };
    CHECK(recorder.weights[0].is_same(parameter("w1")));
    CHECK(recorder.weights[1].is_same(parameter("w2")));
    CHECK(recorder.weights[2].is_same(parameter("w3")));
    // The first ReLU's input: the first convolution (doubled by the observer) through its eval batch norm.
    const torch::Tensor first = torch::batch_norm(
        2.0 * torch::conv2d(x, parameter("w1"), parameter("b1"), 1, 1), parameter("g1"), parameter("be1"),
        parameter("m1"), parameter("v1"), false, 0.1, 1e-5, false);
    CHECK(relative_difference(recorder.inputs[0], first) < 1e-12);
    CHECK(!torch::allclose(observed, unobserved));  // the doubled outputs went on through the graph
    CHECK(torch::equal(plain.forward(x), unobserved));  // and without the observer, nothing changed
}

TEST_CASE("the JIT keeps two ReLUs of one tensor as two observations, run after run") {
    // Two ReLU modules reading one state are two counts for NASWOT's
    // reference; the graph executor merges identical side-effect-free nodes
    // (common subexpressions), so the observation points must not be such nodes.
    struct Counter : nn::ForwardObserver {
        int rectifiers = 0;
        void rectifier_input(const torch::Tensor&) override { ++rectifiers; }
        torch::Tensor layer_output(const torch::Tensor&, const torch::Tensor& output) override { return output; }
    };
    TemporaryDirectory dir;
    torch::jit::Module module("TwoReadersOfOneState");
    module.define(R"JIT(
def forward(self, x):
    return torch.relu(x) * 2.0 + torch.relu(x)
)JIT");
    const auto path = (dir / "two.pt").string();
    module.save(path);
    for (const bool fast : {true, false}) {
        INFO("cellscape's operators: " << fast);
        ScriptModel model(path, fast);
        const torch::Tensor x = torch::randn({4, 3});
        for (int run = 0; run < 4; ++run) {  // the executor optimizes the graph after its first runs
            Counter counter;
            const nn::ForwardObserverGuard guard(counter);
            CHECK(torch::allclose(model.forward(x), 3.0 * torch::relu(x)));
            CHECK(counter.rectifiers == 2);
        }
    }
}
