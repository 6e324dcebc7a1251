// The Objective and the Hessian analyses on tiny models, against a dense
// Hessian assembled from HVPs and diagonalized by Eigen, and against finite
// differences of gradients. All in float64, so tolerances reflect the
// algorithms, not float32 rounding.
#include <catch2/catch.hpp>

#include <torch/script.h>
#include <torch/torch.h>

#include <Eigen/Eigenvalues>
#include <Spectra/SymEigsSolver.h>

#include "cellscape/analysis/hessian.hpp"
#include "cellscape/analysis/hessian_file.hpp"
#include "cellscape/analysis/hessian_report.hpp"
#include "cellscape/cells/zoo.hpp"
#include "cellscape/io/hdf5.hpp"
#include "support/temporary_directory.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;
using testing::TemporaryDirectory;

namespace {

// 48 samples of 1x4x4 in 3 classes.
LabelledImages tiny_data(uint64_t seed = 1) {
    torch::manual_seed(seed);
    const auto labels = torch::arange(48, torch::kInt64).remainder(3);
    const auto images = torch::randn({48, 1, 4, 4}) + labels.to(torch::kFloat32).view({48, 1, 1, 1});
    return {images, labels};
}

// Conv(1->2, 3x3) [+ BatchNorm] + ReLU + Linear(32 -> 3): 119 parameters (123 with BatchNorm).
std::unique_ptr<Model> tiny_module(bool batch_norm) {
    torch::manual_seed(2);
    namespace nn = torch::nn;
    nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 2, 3).padding(1)));
    if (batch_norm) net->push_back(nn::BatchNorm2d(2));
    net->push_back(nn::Tanh());
    net->push_back(nn::Flatten());
    net->push_back(nn::Linear(32, 3));
    if (batch_norm) {  // non-trivial running statistics
        torch::NoGradGuard no_grad;
        net->train();
        net->forward(torch::randn({16, 1, 4, 4}) * 2 + 0.5);
    }
    return std::make_unique<ModuleModel>(net.ptr(), [net](const torch::Tensor& x) mutable { return net->forward(x); });
}

// The same kind of model as TorchScript, written through LibTorch: an MLP with a hand-written BatchNorm.
std::filesystem::path write_torchscript(const TemporaryDirectory& dir, int64_t outputs = 3) {
    torch::manual_seed(3);
    torch::jit::Module module("TinyScript");
    module.register_attribute("training", c10::BoolType::get(), true);  // what nn.Module.train() switches
    module.register_parameter("w1", torch::randn({16, 6}) * 0.3, false);
    module.register_parameter("b1", torch::zeros({6}), false);
    module.register_parameter("gamma", torch::ones({6}), false);
    module.register_parameter("beta", torch::zeros({6}), false);
    module.register_buffer("running_mean", torch::randn({6}) * 0.1);
    module.register_buffer("running_var", torch::rand({6}) + 0.5);
    module.register_parameter("w2", torch::randn({6, outputs}) * 0.3, false);
    module.register_parameter("b2", torch::zeros({outputs}), false);
    module.define(R"JIT(
def forward(self, x):
    h = torch.matmul(x.flatten(1), self.w1) + self.b1
    h = torch.batch_norm(h, self.gamma, self.beta, self.running_mean, self.running_var, self.training, 0.1, 1e-5, False)
    return torch.matmul(torch.tanh(h), self.w2) + self.b2
)JIT");
    const auto path = dir / "tiny.pt";
    module.save(path.string());
    return path;
}

ObjectiveOptions float64_options(BatchNormMode bn = BatchNormMode::eval) {
    ObjectiveOptions options;
    options.dtype = Precision::float64;
    options.batch_size = 20;  // three uneven batches: the sum over batches must be weighted right
    options.bn_mode = bn;
    return options;
}

Objective tiny_objective(bool batch_norm, BatchNormMode bn = BatchNormMode::eval) {
    return Objective(tiny_module(batch_norm), tiny_data(), float64_options(bn), {});
}

Eigen::MatrixXd dense_hessian(Objective& objective) {
    const int64_t n = objective.dimension();
    Eigen::MatrixXd hessian(n, n);
    for (int64_t i = 0; i < n; ++i) {
        const auto column = objective.hessian_vector_product(torch::eye(n, torch::kFloat64)[i]).contiguous();
        for (int64_t j = 0; j < n; ++j) hessian(j, i) = column[j].item<double>();
    }
    return hessian;
}

Eigen::VectorXd dense_eigenvalues(Objective& objective) {
    const Eigen::MatrixXd hessian = dense_hessian(objective);
    return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(0.5 * (hessian + hessian.transpose())).eigenvalues();
}

// Softmax regression, Flatten + Linear(16 -> 3): 51 parameters whose
// Hessian has a closed form (below). Its weights are returned too.
std::pair<std::unique_ptr<Model>, torch::nn::Linear> softmax_regression() {
    torch::manual_seed(4);
    torch::nn::Linear layer(16, 3);
    torch::nn::Sequential net(torch::nn::Flatten(), layer);
    auto model = std::make_unique<ModuleModel>(net.ptr(), [net](const torch::Tensor& x) mutable { return net->forward(x); });
    return {std::move(model), layer};
}

// The Hessian of the mean cross-entropy of softmax regression, by hand:
// with x~ = (x, 1) and p = softmax(W x + b), the second derivative by
// theta_(c,j) and theta_(d,l) (theta_(c,16) the bias b_c) is
// mean over samples of (p_c [c = d] - p_c p_d) x~_j x~_l. Eigenvalues do
// not depend on the order of the parameters, so none is assumed.
Eigen::MatrixXd softmax_regression_hessian(const LabelledImages& data, const torch::nn::Linear& layer) {
    const torch::Tensor x = data.images.to(torch::kFloat64).flatten(1);
    const torch::Tensor w = layer->weight.detach().to(torch::kFloat64), b = layer->bias.detach().to(torch::kFloat64);
    const torch::Tensor p = torch::softmax(torch::matmul(x, w.t()) + b, 1);
    const int64_t n = x.size(0), classes = 3, inputs = 16, width = inputs + 1;
    Eigen::MatrixXd hessian = Eigen::MatrixXd::Zero(classes * width, classes * width);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < classes; ++c)
            for (int64_t d = 0; d < classes; ++d) {
                const double pc = p[i][c].item<double>(), pd = p[i][d].item<double>();
                const double a = (c == d ? pc : 0.0) - pc * pd;
                for (int64_t j = 0; j < width; ++j)
                    for (int64_t l = 0; l < width; ++l) {
                        const double xj = j < inputs ? x[i][j].item<double>() : 1.0;
                        const double xl = l < inputs ? x[i][l].item<double>() : 1.0;
                        hessian(c * width + j, d * width + l) += a * xj * xl / static_cast<double>(n);
                    }
            }
    return hessian;
}

}  // namespace

TEST_CASE("HessianOperator under Spectra's SymEigsSolver gives the closed-form Hessian's top eigenvalues") {
    auto [model, layer] = softmax_regression();
    const LabelledImages data = tiny_data();
    Objective objective(std::move(model), data, float64_options(), {});
    const Eigen::VectorXd exact =
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(softmax_regression_hessian(data, layer)).eigenvalues();
    REQUIRE(exact.size() == objective.dimension());
    // Spectra's own solver, driven through the operator as any Spectra user would.
    HessianOperator hessian(objective);
    Spectra::SymEigsSolver<HessianOperator> solver(hessian, 3, 20);
    solver.init();
    const auto found = solver.compute(Spectra::SortRule::LargestAlge, 1000, 1e-12);
    REQUIRE(found == 3);
    REQUIRE(solver.info() == Spectra::CompInfo::Successful);
    // float64 products and a 1e-12 tolerance: 1e-9 of the largest eigenvalue
    // leaves room for the products' rounding, far below any slip in the formula.
    const double scale = exact.maxCoeff();
    for (Eigen::Index i = 0; i < 3; ++i)
        CHECK(std::abs(solver.eigenvalues()[i] - exact[exact.size() - 1 - i]) < 1e-9 * scale);
    // cellscape's two solvers on the same operator agree with it too.
    for (const EigenSolver which : {EigenSolver::lanczos, EigenSolver::spectra}) {
        EigenOptions options;
        options.count = 3;
        options.tol = 1e-10;
        options.solver = which;
        const EigenResult result = hessian_extreme_eigenpairs(objective, options, true);
        CAPTURE(name_of(which));
        CHECK(result.solver == which);
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(result.converged[i]);
            CHECK(std::abs(result.values[i] - exact[exact.size() - 1 - static_cast<Eigen::Index>(i)]) < 1e-8 * scale);
            // Spectra stops on the relative residual r itself; Lanczos on its
            // error estimate min(r, r^2 / gap) (lanczos.hpp), so r may reach
            // sqrt(tolerance x relative gap) <= sqrt(tolerance) = 1e-5 there.
            CHECK(result.residuals[i] < std::sqrt(options.tol));
        }
    }
}

TEST_CASE("the default solver's eigenvalues equal Spectra's, top and bottom, on a model with BatchNorm") {
    Objective objective = tiny_objective(true);
    for (const bool top : {true, false}) {
        EigenOptions options;
        options.count = 2;
        options.tol = 1e-10;
        const EigenResult lanczos = hessian_extreme_eigenpairs(objective, options, top);
        options.solver = EigenSolver::spectra;
        const EigenResult spectra = hessian_extreme_eigenpairs(objective, options, top);
        const double scale = std::max(std::abs(spectra.values[0]), std::abs(spectra.values[1]));
        for (std::size_t i = 0; i < 2; ++i) {
            CAPTURE(top, i);
            CHECK(std::abs(lanczos.values[i] - spectra.values[i]) < 1e-8 * scale);
        }
        CHECK(spectra.hessian_vector_products > 0);
    }
}

TEST_CASE("Hutchinson's samples are z^T H z of its Rademacher probes, and the trace their mean") {
    Objective objective = tiny_objective(true);
    const Eigen::MatrixXd dense = dense_hessian(objective);
    TraceOptions options;
    options.min_probes = options.max_probes = 12;
    options.keep_probes = true;
    const TraceResult trace = hutchinson_trace(objective, options);
    REQUIRE(trace.probes.defined());
    REQUIRE(trace.probes.size(1) == 12);
    double sum = 0;
    for (int64_t k = 0; k < 12; ++k) {
        const torch::Tensor z = trace.probes.select(1, k).contiguous();
        CHECK(z.abs().eq(1).all().item<bool>());  // Rademacher: every entry +-1
        const Eigen::Map<const Eigen::VectorXd> probe(z.data_ptr<double>(), z.numel());
        const double exact = probe.dot(dense * probe);
        // The same product in float64: equal to rounding (1e-10 of the sample's size).
        CHECK(std::abs(trace.samples[static_cast<std::size_t>(k)] - exact) < 1e-10 * (std::abs(exact) + 1));
        sum += exact;
    }
    CHECK(trace.mean == Approx(sum / 12).epsilon(1e-10));
}

TEST_CASE("Hessian-vector products agree with central differences of gradients") {
    for (bool batch_norm : {false, true}) {
        INFO("batch norm: " << batch_norm);
        Objective objective = tiny_objective(batch_norm);
        const auto w = objective.parameter_vector().clone();
        const auto v = torch::randn({objective.dimension()}, torch::kFloat64);
        const auto hv = objective.hessian_vector_product(v);
        // O(eps^2) truncation with eps = 1e-4 and O(1e-16 / eps) rounding: 1e-6 relative is ample.
        const double eps = 1e-4;
        objective.set_parameter_vector(w + eps * v);
        const auto plus = objective.gradient();
        objective.set_parameter_vector(w - eps * v);
        const auto minus = objective.gradient();
        objective.set_parameter_vector(w);
        const auto difference = (plus - minus) / (2 * eps);
        CHECK((difference - hv).norm().item<double>() / hv.norm().item<double>() < 1e-6);
    }
}

TEST_CASE("the Hessian is symmetric: u.Hv = v.Hu") {
    Objective objective = tiny_objective(true);
    const auto u = torch::randn({objective.dimension()}, torch::kFloat64);
    const auto v = torch::randn({objective.dimension()}, torch::kFloat64);
    const double uhv = u.dot(objective.hessian_vector_product(v)).item<double>();
    const double vhu = v.dot(objective.hessian_vector_product(u)).item<double>();
    CHECK(std::abs(uhv - vhu) <= 1e-10 * std::abs(uhv));  // float64 rounding of ~100-term sums
}

TEST_CASE("top-k and bottom-k eigenvalues match the dense Hessian, with small residuals") {
    for (bool batch_norm : {false, true}) {
        INFO("batch norm: " << batch_norm);
        Objective objective = tiny_objective(batch_norm);
        const Eigen::VectorXd dense = dense_eigenvalues(objective);  // ascending
        const int64_t n = dense.size();
        EigenOptions options;
        options.count = 3;
        options.tol = 1e-10;
        options.keep_vectors = true;
        const auto top = hessian_extreme_eigenpairs(objective, options, true);
        options.count = 2;
        const auto bottom = hessian_extreme_eigenpairs(objective, options, false);
        // Converged to 1e-10 relative; 1e-7 of the largest eigenvalue absorbs the dense solver's rounding.
        const double scale = dense.cwiseAbs().maxCoeff();
        for (int64_t i = 0; i < 3; ++i) {
            CHECK(top.converged[i]);
            CHECK(std::abs(top.values[i] - dense[n - 1 - i]) < 1e-7 * scale);
            // The reported residual is the one one more HVP measures, to
            // float64 rounding (1e-9 relative to the eigenvalue).
            const auto y = top.vectors.select(1, i).contiguous();
            const double measured =
                (objective.hessian_vector_product(y) - top.values[i] * y).norm().item<double>() / std::abs(top.values[i]);
            CHECK(std::abs(top.residuals[i] - measured) < 1e-9);
        }
        for (int64_t i = 0; i < 2; ++i) {
            CHECK(bottom.converged[i]);
            CHECK(std::abs(bottom.values[i] - dense[i]) < 1e-7 * scale);
        }
        CHECK(bottom.values[0] < 0);  // this tiny network is not at a minimum: negative curvature exists
        CHECK(top.vectors.sizes() == torch::IntArrayRef{n, 3});
        CHECK(std::abs(top.vectors.select(1, 0).norm().item<double>() - 1.0) < 1e-9);
    }
}

TEST_CASE("the same on a TorchScript model written through LibTorch") {
    const TemporaryDirectory dir;
    Objective objective(std::make_unique<ScriptModel>(write_torchscript(dir).string()), tiny_data(), float64_options(),
                        {});
    CHECK(objective.dimension() == 16 * 6 + 6 + 6 + 6 + 6 * 3 + 3);
    const Eigen::VectorXd dense = dense_eigenvalues(objective);
    EigenOptions options;
    options.count = 2;
    options.tol = 1e-10;
    const auto top = hessian_extreme_eigenpairs(objective, options, true);
    const double scale = dense.cwiseAbs().maxCoeff();
    CHECK(std::abs(top.values[0] - dense[dense.size() - 1]) < 1e-7 * scale);
    CHECK(std::abs(top.values[1] - dense[dense.size() - 2]) < 1e-7 * scale);
}

TEST_CASE("Hutchinson's trace agrees with the dense trace within its standard error") {
    Objective objective = tiny_objective(true);
    const Eigen::MatrixXd dense = dense_hessian(objective);
    TraceOptions options;
    // This Hessian's off-diagonal mass is large next to its trace, so probes vary a lot.
    options.rtol = 0.1;
    options.max_probes = 2000;
    const auto trace = hutchinson_trace(objective, options);
    INFO("trace " << trace.mean << " +- " << trace.standard_error << " dense " << dense.trace() << " probes " << trace.samples.size());
    CHECK(trace.converged);
    CHECK(trace.samples.size() >= 10);
    // 4 standard errors: a false failure has probability below 1e-4 (and the seed is fixed).
    CHECK(std::abs(trace.mean - dense.trace()) < 4 * trace.standard_error);
}

TEST_CASE("the SLQ density integrates to 1 and its mean matches trace / n") {
    Objective objective = tiny_objective(false);
    const Eigen::MatrixXd dense = dense_hessian(objective);
    const double n = static_cast<double>(objective.dimension());
    DensityOptions options;
    options.steps = 40;
    options.runs = 30;
    const auto density = spectral_density(objective, options);
    const double dx = (density.grid[1] - density.grid[0]).item<double>();
    // Riemann sum on 1000 points covering +-5 sigma around every node: 1e-3 is ample.
    CHECK(std::abs(density.density.sum().item<double>() * dx - 1.0) < 1e-3);
    const double mean = (density.grid * density.density).sum().item<double>() * dx;
    // Each run's quadrature mean is z'Hz / n for its probe z: an unbiased estimate of tr(H)/n.
    const auto per_run = (density.nodes * density.weights).sum(1);
    const double standard_error = per_run.std().item<double>() / std::sqrt(static_cast<double>(options.runs));
    CHECK(std::abs(mean - per_run.mean().item<double>()) < 1e-6 * std::abs(mean) + 1e-9);
    CHECK(std::abs(mean - dense.trace() / n) < 4 * standard_error);
    // The extreme nodes bracket the spectrum.
    const Eigen::VectorXd eigenvalues = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(dense).eigenvalues();
    CHECK(density.nodes.max().item<double>() <= eigenvalues.maxCoeff() * (1 + 1e-8));
}

TEST_CASE("results are identical across two runs in eval mode") {
    EigenOptions options;
    options.count = 2;
    Objective first = tiny_objective(true);
    Objective second = tiny_objective(true);
    CHECK(hessian_extreme_eigenpairs(first, options, true).values ==
          hessian_extreme_eigenpairs(second, options, true).values);
    CHECK(hutchinson_trace(first, {}).samples == hutchinson_trace(second, {}).samples);
}

TEST_CASE("train mode uses batch statistics and leaves the running statistics untouched") {
    auto model = tiny_module(true);
    Model& view = *model;
    const NamedTensors before = [&] {
        NamedTensors copies;
        for (const auto& [name, buffer] : view.named_buffers()) copies.emplace_back(name, buffer.clone());
        return copies;
    }();
    Objective train_mode(std::move(model), tiny_data(), float64_options(BatchNormMode::train), {});
    const auto v = torch::randn({train_mode.dimension()}, torch::kFloat64);
    const auto train_hv = train_mode.hessian_vector_product(v);
    train_mode.loss_and_accuracy();
    train_mode.gradient();
    const auto after = view.named_buffers();
    for (std::size_t i = 0; i < before.size(); ++i) {
        INFO(before[i].first);
        CHECK(torch::equal(after[i].second.to(before[i].second.dtype()), before[i].second));
    }
    Objective eval_mode = tiny_objective(true, BatchNormMode::eval);
    CHECK_FALSE(torch::allclose(train_hv, eval_mode.hessian_vector_product(v)));
}

TEST_CASE("parameter selection by regex and by group") {
    ObjectiveOptions options = float64_options();
    options.params_regex = "^3\\.";  // the Linear layer (child 3 of the Sequential): 32*3 + 3
    Objective linear(tiny_module(false), tiny_data(), options, {});
    CHECK(linear.dimension() == 99);
    options.params_regex = "weight$";
    CHECK(Objective(tiny_module(false), tiny_data(), options, {}).dimension() == 18 + 96);
    options.params_regex = "nothing";
    CHECK_THROWS_WITH(Objective(tiny_module(false), tiny_data(), options, {}), Contains("no parameter matches"));
    options.params_regex.clear();
    options.groups = {"normal"};
    CHECK_THROWS_WITH(Objective(tiny_module(false), tiny_data(), options, {}), Contains("not a parameter group"));
}

TEST_CASE("an Objective from a training checkpoint, with named groups, written to a Hessian file") {
    const TemporaryDirectory dir;
    TrainingRequest request;
    request.cell = *find_in_zoo("DARTS_V2");
    request.network.init_channels = 4;
    request.network.layers = 3;
    request.training.dataset = "fashion-mnist";
    request.training.train_size = 64;
    request.training.test_size = 16;
    request.training.epochs = 1;
    request.training.batch_size = 32;
    request.out_dir = dir / "run";
    set_threads(1);
    train_network(request);

    ObjectiveSource source;
    source.checkpoint = (dir / "run/epoch-0001.h5").string();
    EvaluationSamples samples;
    samples.samples = 32;
    samples.seed = 9;
    ObjectiveOptions options;
    options.batch_size = 16;
    options.groups = {"classifier"};
    Objective objective = Objective::load(source, samples, options);
    CHECK(objective.dimension() == 64 * 10 + 10);  // C=4 -> 16 after two reductions, 4 concat nodes
    HessianRequest hessian;
    hessian.top.count = 2;
    hessian.trace = true;
    hessian.trace_options.max_probes = 12;
    hessian.density = true;
    hessian.density_options.steps = 10;
    hessian.density_options.runs = 2;
    hessian.trace_options.seed = 5;
    hessian.density_options.seed = 6;
    const auto report = analyse_hessian(objective, hessian);
    write_hessian_file(dir / "hessian.h5", objective, report, "test");
    const Hdf5File file(dir / "hessian.h5", Hdf5File::Mode::read);
    require_format(file, hessian_format, hessian_format_version);
    CHECK(file.read("eigenvalues").size(0) == 2);
    CHECK(file.string_attribute("/", "model_source") == "checkpoint:" + source.checkpoint);
    CHECK(file.int_attribute("/", "parameter_count") == 650);
    // How the 32 samples were chosen: randomly, by seed 9, from the training split.
    CHECK(file.string_attribute("/", "sampling") == "random");
    CHECK(file.int_attribute("/", "seed") == 9);
    CHECK(file.string_attribute("/", "split") == "train");
    CHECK(file.int_attribute("/", "samples") == 32);
    // And the seeds of the random probes, each with its analysis.
    CHECK(file.int_attribute("/", "trace_seed") == 5);
    CHECK(file.int_attribute("/", "density_seed") == 6);
    CHECK(file.read("density/grid").size(0) == 1000);
    // The first N of a split: the seed chose nothing, and is not recorded.
    EvaluationSamples first = samples;
    first.sampling = Sampling::sequential;
    const Objective sequential = Objective::load(source, first, options);
    CHECK(sequential.provenance().sampling == "sequential");
    CHECK_FALSE(sequential.provenance().seed.has_value());
    const auto json = hessian_json(objective, report);
    CHECK(json["eigenvalues"].size() == 2);
    CHECK(json["hvp_count"].get<int64_t>() == report.hessian_vector_products);
}

TEST_CASE("a Hessian file's reader gives back what its writer wrote, and refuses a newer format") {
    const TemporaryDirectory dir;
    Objective objective = tiny_objective(false);
    HessianRequest request;
    request.top.count = 1;
    request.trace = true;
    request.trace_options.min_probes = request.trace_options.max_probes = 6;
    request.parts = PartLevel::cell;
    const HessianReport report = analyse_hessian(objective, request);
    REQUIRE(report.parts.size() >= 2);
    write_hessian_file(dir / "hessian.h5", objective, report, "test");
    // float64 values written and read back: equal bit for bit.
    const HessianFileValues values = read_hessian_file(dir / "hessian.h5");
    REQUIRE(values.top_eigenvalue.has_value());
    CHECK(*values.top_eigenvalue == report.top->values.at(0));
    REQUIRE(values.trace.has_value());
    CHECK(*values.trace == report.trace->mean);
    const std::vector<HessianFilePart> parts = read_hessian_parts(dir / "hessian.h5");
    REQUIRE(parts.size() == report.parts.size());
    for (std::size_t b = 0; b < report.parts.size(); ++b) {
        INFO(report.parts[b].name);
        CHECK(parts[b].name == report.parts[b].name);
        CHECK(parts[b].parameters == report.parts[b].size);
        CHECK(parts[b].top_eigenvalue == report.part_top[b].values.at(0));
        CHECK(parts[b].trace == report.trace->part_means[b]);
        CHECK(parts[b].trace_stderr == report.trace->part_standard_errors[b]);
    }
    {
        Hdf5File newer(dir / "hessian.h5", Hdf5File::Mode::read_write);
        newer.set_attribute("/", "format_version", hessian_format_version + 1);
    }
    CHECK_THROWS_WITH(read_hessian_file(dir / "hessian.h5"),
                      Contains("hessian.h5 is a cellscape-hessian file of format version 2, newer than this cellscape") &&
                          Contains("reads (at most 1)"));
}

TEST_CASE("a file records only the settings its Objective used") {
    // Samples the caller chose: no sampling, seed, split or dataset was used, and none is written.
    const TemporaryDirectory dir;
    Objective own_samples = tiny_objective(false);
    HessianRequest request;
    request.top.count = 1;
    write_hessian_file(dir / "own.h5", own_samples, analyse_hessian(own_samples, request), "test");
    const Hdf5File own(dir / "own.h5", Hdf5File::Mode::read);
    for (const char* unused : {"sampling", "seed", "split", "dataset", "sample_indices_hash"}) {
        INFO(unused);
        CHECK_FALSE(own.has_attribute("/", unused));
    }
    CHECK(own.int_attribute("/", "samples") == tiny_data().size());
    CHECK(own.int_attribute("/", "batch_size") == 20);
    CHECK(own.string_attribute("/", "dtype") == "float64");
}

TEST_CASE("bad input to the Hessian gets clear errors") {
    const TemporaryDirectory dir;
    SECTION("a file that is not a checkpoint") {
        ObjectiveSource source;
        source.checkpoint = dir.write("model.h5", "not hdf5").string();
        CHECK_THROWS_WITH(Objective::load(source, {}, {}), Contains("is not an HDF5 file"));
    }
    SECTION("a TorchScript module whose output does not fit the labels") {
        CHECK_THROWS_WITH(Objective(std::make_unique<ScriptModel>(write_torchscript(dir, 2).string()), tiny_data(),
                                    float64_options(), {}),
                          Contains("does not fit the data"));
    }
    SECTION("a file that is not TorchScript") {
        CHECK_THROWS_WITH(ScriptModel(dir.write("x.pt", "nope").string()), Contains("is not a TorchScript module"));
    }
    SECTION("k larger than the parameter count") {
        Objective objective = tiny_objective(false);
        EigenOptions options;
        options.count = 500;
        CHECK_THROWS_WITH(hessian_extreme_eigenpairs(objective, options, true), Contains("only 119 parameters"));
    }
    SECTION("a NaN in the loss") {
        LabelledImages data = tiny_data();
        data.images[3].fill_(NAN);
        Objective objective(tiny_module(false), data, float64_options(), {});
        CHECK_THROWS_WITH(objective.loss_and_accuracy(), Contains("loss is not finite"));
        CHECK_THROWS_WITH(objective.hessian_vector_product(torch::ones({objective.dimension()}, torch::kFloat64)),
                          Contains("not finite"));
    }
}

TEST_CASE("an eigenvalue that did not converge is reported as such, never as a plausible number") {
    Objective objective = tiny_objective(false);
    EigenOptions options;
    options.count = 3;
    options.ncv = 4;  // a small basis and 6 products: not enough for three pairs to 1e-12
    options.max_hvps = 6;
    options.tol = 1e-12;
    const EigenResult result = hessian_extreme_eigenpairs(objective, options, true);
    REQUIRE(result.values.size() == 3);
    REQUIRE(result.converged.size() == 3);
    CHECK(result.stop == LanczosStop::product_budget);
    CHECK(result.hessian_vector_products == 6);
    CHECK(std::count(result.converged.begin(), result.converged.end(), false) > 0);
    for (std::size_t i = 0; i < 3; ++i) {
        INFO(i);
        CHECK(std::isnan(result.values[i]) == !result.converged[i]);
        // What was reached is still reported, with its (unmet) error estimate.
        CHECK(std::isfinite(result.ritz_values[i]));
        CHECK(result.error_estimates[i] > (result.converged[i] ? 0.0 : 1e-12));
    }
    options.tol = -1;
    CHECK_THROWS_WITH(hessian_extreme_eigenpairs(objective, options, true),
                      Contains("tol: must be between 0 and 1"));
}

// cellscape 0.2's names of the eigensolver's settings still act, as the
// current ones would (the compiler warns whoever uses them; the consumer
// test in tests/install checks the warning's sentence).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST_CASE("the eigensolver's old setting names act as the new ones until they are removed") {
    EigenOptions old_names;
    old_names.krylov_dimension = 5;
    old_names.tolerance = 1e-7;
    old_names.max_products = 9;
    old_names.min_products = 3;
    const EigenOptions current = old_names.in_current_names();
    CHECK(current.ncv == 5);
    CHECK(current.tol == 1e-7);
    CHECK(current.max_hvps == 9);
    CHECK(current.min_hvps == 3);
    CHECK(current.krylov_dimension == 0);
    CHECK(current.tolerance == 0);
    // Unset old names leave the new ones as they are.
    EigenOptions new_names;
    new_names.ncv = 7;
    CHECK(new_names.in_current_names().ncv == 7);
    CHECK(new_names.in_current_names().tol == EigenOptions{}.tol);

    // The solver reads them: the old budget stops it, the old name's error names the new one.
    Objective objective = tiny_objective(false);
    EigenOptions budget;
    budget.count = 3;
    budget.ncv = 4;
    budget.tolerance = 1e-12;
    budget.max_products = 6;
    const EigenResult result = hessian_extreme_eigenpairs(objective, budget, true);
    CHECK(result.hessian_vector_products == 6);
    CHECK(result.stop == LanczosStop::product_budget);
    EigenOptions contradiction;
    contradiction.max_products = 10;
    contradiction.min_products = 20;
    CHECK_THROWS_WITH(contradiction.validate(), Contains("min_hvps: is 20 but the HVP budget (max_hvps) is 10"));
}
#pragma GCC diagnostic pop

namespace {

Objective tiny_objective_with_memory(std::optional<int64_t> hvp_memory_bytes, BatchNormMode bn = BatchNormMode::eval) {
    ObjectiveOptions options = float64_options(bn);
    options.hvp_memory_bytes = hvp_memory_bytes;
    return Objective(tiny_module(true), tiny_data(), options, {});
}

}  // namespace

TEST_CASE("kept gradient graphs give the products a rebuilt graph gives") {
    // Reference: the same objective keeping no graph (forward and both
    // backward passes each time). The same float64 operations in the same
    // order: equal to 1e-13 relative.
    Objective rebuilt = tiny_objective_with_memory(0);
    Objective kept = tiny_objective_with_memory(std::nullopt);  // half the free memory: all three batches
    const auto v = torch::randn({kept.dimension()}, torch::kFloat64);
    const auto u = torch::randn({kept.dimension()}, torch::kFloat64);
    const auto close = [](const torch::Tensor& a, const torch::Tensor& b) {
        return (a - b).norm().item<double>() <= 1e-13 * b.norm().item<double>();
    };
    // The loss from the forward passes that build the graphs is the loss,
    // and the gradient summed while building them (Lanczos' start) is the gradient.
    const LossAndAccuracy at_weights = kept.loss_and_accuracy_keeping_graphs();
    CHECK(kept.kept_graphs().batches_kept == 3);
    CHECK(std::abs(at_weights.loss - rebuilt.loss_and_accuracy().loss) <= 1e-13 * at_weights.loss);
    CHECK(at_weights.accuracy == rebuilt.loss_and_accuracy().accuracy);
    CHECK(close(kept.gradient_keeping_graphs(), rebuilt.gradient()));
    CHECK(kept.kept_graphs().batches_kept == 3);
    CHECK(close(kept.hessian_vector_product(v), rebuilt.hessian_vector_product(v)));
    CHECK(kept.kept_graphs().graphs_built == 3);  // built once, by the loss
    CHECK(kept.kept_graphs().bytes > 0);
    CHECK(rebuilt.kept_graphs().batches_kept == 0);
    // Second and third products reuse the graphs: still the same values.
    CHECK(close(kept.hessian_vector_product(u), rebuilt.hessian_vector_product(u)));
    CHECK(close(kept.hessian_vector_product(v), rebuilt.hessian_vector_product(v)));
    CHECK(kept.kept_graphs().graphs_built == 3);

    SECTION("new weights through the Objective drop the old graphs") {
        const auto w = kept.parameter_vector() + 0.3 * torch::randn({kept.dimension()}, torch::kFloat64);
        kept.set_parameter_vector(w);
        rebuilt.set_parameter_vector(w);
        CHECK(kept.kept_graphs().batches_kept == 0);
        CHECK(close(kept.gradient_keeping_graphs(), rebuilt.gradient()));
        CHECK(close(kept.hessian_vector_product(v), rebuilt.hessian_vector_product(v)));
        CHECK(kept.kept_graphs().graphs_built == 6);
    }
    SECTION("weights changed in place behind the Objective's back are noticed too") {
        {
            torch::NoGradGuard no_grad;
            for (Objective* objective : {&kept, &rebuilt})
                for (const auto& [name, parameter] : objective->parameters()) parameter.mul_(1.5);
        }
        CHECK(close(kept.hessian_vector_product(v), rebuilt.hessian_vector_product(v)));
    }
    SECTION("released graphs are rebuilt on demand") {
        kept.release_kept_graphs();
        CHECK(kept.kept_graphs().bytes == 0);
        CHECK(close(kept.hessian_vector_product(u), rebuilt.hessian_vector_product(u)));
        CHECK(kept.kept_graphs().batches_kept == 3);
    }
}

TEST_CASE("the graph memory budget keeps what fits and recomputes the rest") {
    Objective probe = tiny_objective_with_memory(std::nullopt);
    const auto v = torch::randn({probe.dimension()}, torch::kFloat64);
    const auto expected = probe.hessian_vector_product(v);
    const int64_t all_three = probe.kept_graphs().bytes;
    REQUIRE(all_three > 0);
    // Room for half of them (batches of 20, 20 and 8 samples): some are
    // kept, the others recomputed for every product.
    Objective limited = tiny_objective_with_memory(all_three / 2);
    for (int repeat = 0; repeat < 2; ++repeat) {
        CHECK((limited.hessian_vector_product(v) - expected).norm().item<double>() <=
              1e-13 * expected.norm().item<double>());
        CHECK(limited.kept_graphs().batches_kept >= 1);
        CHECK(limited.kept_graphs().batches_kept < 3);
        CHECK(limited.kept_graphs().bytes <= all_three / 2);
    }
    // Train-mode BatchNorm moves the running statistics a graph saved: none kept.
    Objective train_mode = tiny_objective_with_memory(std::nullopt, BatchNormMode::train);
    (void)train_mode.hessian_vector_product(v);
    CHECK(train_mode.kept_graphs().batches_kept == 0);
    ObjectiveOptions negative = float64_options();
    negative.hvp_memory_bytes = -1;
    CHECK_THROWS_WITH(negative.validate(), Contains("hvp_memory_bytes: must not be negative"));
}

TEST_CASE("curvature by part: each block's top eigenvalue is the dense block's, and the parts split each probe") {
    Objective objective = tiny_objective(true);  // Sequential: conv "0", BatchNorm "1", linear "4"
    const Eigen::MatrixXd dense = dense_hessian(objective);
    HessianRequest request;
    request.top.count = 1;
    request.top.tol = 1e-10;
    request.top.max_hvps = 500;
    request.trace = true;
    request.trace_options.min_probes = request.trace_options.max_probes = 16;
    request.trace_options.keep_probes = true;
    request.parts = PartLevel::cell;
    const HessianReport report = analyse_hessian(objective, request);
    REQUIRE(report.parts.size() == 3);
    CHECK(report.parts[0].name == "0");
    CHECK(report.parts[1].name == "1");
    CHECK(report.parts[2].name == "4");
    CHECK(report.parts[0].size == 2 * 9 + 2);
    CHECK(report.parts[1].size == 2 + 2);
    CHECK(report.parts[2].size == 32 * 3 + 3);
    const torch::Tensor probes = report.trace->probes;
    const double entry_scale = dense.cwiseAbs().maxCoeff();
    double whole_mean = 0;
    for (std::size_t b = 0; b < report.parts.size(); ++b) {
        const auto& [offset, length] = report.parts[b].ranges.at(0);
        REQUIRE(report.parts[b].ranges.size() == 1);
        const Eigen::MatrixXd block = dense.block(offset, offset, length, length);
        const Eigen::VectorXd eigenvalues =
            Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(0.5 * (block + block.transpose())).eigenvalues();
        // Converged to 1e-10 relative; 1e-7 of the block's largest |eigenvalue| absorbs the dense solver's rounding.
        INFO("part " << report.parts[b].name);
        CHECK(std::abs(report.part_top[b].values[0] - eigenvalues[length - 1]) <
              1e-7 * eigenvalues.cwiseAbs().maxCoeff());
        for (int64_t p = 0; p < probes.size(1); ++p) {
            Eigen::VectorXd z(dense.rows());
            for (int64_t i = 0; i < z.size(); ++i) z[i] = probes[i][p].item<double>();
            const Eigen::VectorXd hz = dense * z;
            const double exact = z.segment(offset, length).dot(hz.segment(offset, length));
            // The dense columns are HVPs of unit vectors: the same sums in another order, ~1e-14 of n x max|H_ij|.
            CHECK(std::abs(report.trace->part_samples[b][p] - exact) < 1e-10 * entry_scale * static_cast<double>(dense.rows()));
        }
        whole_mean += report.trace->part_means[b];
    }
    // The parts' samples sum to the whole's, probe by probe (three float64 terms: a few ulps).
    for (int64_t p = 0; p < probes.size(1); ++p) {
        double sum = 0;
        for (const auto& samples : report.trace->part_samples) sum += samples[static_cast<std::size_t>(p)];
        CHECK(sum == Approx(report.trace->samples[static_cast<std::size_t>(p)]).epsilon(1e-12));
    }
    CHECK(whole_mean == Approx(report.trace->mean).epsilon(1e-12));

    // Parameter names as a DARTS network has them, at both levels.
    CHECK(part_of("stem.1.weight", PartLevel::edge) == "stem");
    CHECK(part_of("cells.3.preprocess0.op.1.weight", PartLevel::cell) == "cells.3");
    CHECK(part_of("cells.3.preprocess0.op.1.weight", PartLevel::edge) == "cells.3.preprocess0");
    CHECK(part_of("cells.3.ops.5.op.1.weight", PartLevel::edge) == "cells.3.ops.5");
    CHECK(part_of("classifier.bias", PartLevel::cell) == "classifier");
    const auto parts = parameter_parts({{"a.w", 3}, {"b.w", 2}, {"a.v", 1}, {"a.u", 4}}, PartLevel::cell);
    REQUIRE(parts.size() == 2);
    CHECK(parts[0].ranges == std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {5, 5}});
    CHECK(parts[0].size == 8);
    CHECK(parts[1].ranges == std::vector<std::pair<int64_t, int64_t>>{{3, 2}});
}

TEST_CASE("a block with one parameter is its diagonal entry, and a part split needs something to split") {
    Objective objective = tiny_objective(true);
    ObjectiveOptions options = float64_options();
    HessianRequest request;
    request.top.count = 0;
    request.parts = PartLevel::cell;
    CHECK_THROWS_WITH(analyse_hessian(objective, request), Contains("needs the top eigenvalue or the trace"));
    // A model whose every part but one holds a single parameter: its 1 x 1 blocks.
    torch::manual_seed(5);
    torch::jit::Module module("Scalars");
    module.register_parameter("w", torch::randn({16, 3}) * 0.3, false);
    module.register_parameter("scale", torch::ones({1}), false);
    module.define(R"JIT(
def forward(self, x):
    return torch.matmul(x.flatten(1), self.w) * self.scale
)JIT");
    const TemporaryDirectory dir;
    module.save((dir / "scalars.pt").string());
    Objective scalars(std::make_unique<ScriptModel>((dir / "scalars.pt").string(), true), tiny_data(), options, {});
    const Eigen::MatrixXd scalar_dense = dense_hessian(scalars);
    request.top.count = 1;
    request.top.tol = 1e-10;
    const HessianReport report = analyse_hessian(scalars, request);
    REQUIRE(report.parts.size() == 2);
    CHECK(report.parts[1].name == "scale");
    CHECK(report.part_top[1].values[0] == Approx(scalar_dense(48, 48)).epsilon(1e-12));
}
