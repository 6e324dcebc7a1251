// Loss surfaces on a tiny conv net with BatchNorm, in float64: directions
// against their definition, points against an independent recomputation
// from the saved directions, resume and shard merging against one
// uninterrupted run (bitwise: the same arithmetic runs for each point).
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <csignal>
#include <cstdlib>

#include "cellscape/analysis/directions.hpp"
#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/analysis/surface.hpp"
#include "cellscape/io/hdf5.hpp"
#include "support/temporary_directory.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;
using testing::TemporaryDirectory;

namespace {

namespace nn = torch::nn;

// 40 samples of 1x5x5 in 3 classes.
LabelledImages tiny_data() {
    torch::manual_seed(11);
    const auto labels = torch::arange(40, torch::kInt64).remainder(3);
    return {torch::randn({40, 1, 5, 5}) + labels.to(torch::kFloat32).view({40, 1, 1, 1}), labels};
}

// Conv(1->3, 3x3, bias) + BatchNorm + ReLU + Linear(75 -> 3), the same
// weights every call. `forward_calls` counts forward passes when given.
nn::Sequential tiny_network() {
    torch::manual_seed(12);
    nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 3, 3).padding(1)), nn::BatchNorm2d(3), nn::ReLU(),
                       nn::Flatten(), nn::Linear(75, 3));
    // Running statistics that differ from the defaults, so eval mode means something.
    net->forward(tiny_data().images * 2 + 1);
    return net;
}

std::unique_ptr<Model> tiny_model(std::function<void()> on_forward = {}) {
    auto net = tiny_network();
    return std::make_unique<ModuleModel>(net.ptr(), [net, on_forward](const torch::Tensor& x) mutable {
        if (on_forward) on_forward();
        return net->forward(x);
    });
}

ObjectiveOptions float64_options(int64_t batch_size = 16) {
    ObjectiveOptions options;
    options.dtype = Precision::float64;
    options.batch_size = batch_size;
    return options;
}

ObjectiveProvenance provenance() {
    ObjectiveProvenance p;
    p.weights_hash = "tiny";
    return p;
}

SurfaceRequest grid(const std::string& x, const std::string& y = "") {
    SurfaceRequest request;
    request.x = GridAxis::parse(x, "x");
    if (!y.empty()) request.y = GridAxis::parse(y, "y");
    return request;
}

// The per-point datasets of a surface file.
std::map<std::string, torch::Tensor> point_values(const std::filesystem::path& path) {
    const Hdf5File file(path, Hdf5File::Mode::read);
    std::map<std::string, torch::Tensor> values;
    for (const auto& name : file.members("/"))
        if (name != "xdirection" && name != "ydirection") values[name] = file.read(name);
    return values;
}

void require_identical(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
    REQUIRE(a.size() == b.size());
    for (const auto& [name, tensor] : a) {
        INFO(name);
        REQUIRE(b.count(name));
        CHECK(torch::equal(tensor, b.at(name)));
    }
}

// Evaluates the surface described by `request` on a fresh tiny objective.
SurfaceRun run_surface(const SurfaceRequest& request, const std::filesystem::path& out, uint64_t seed = 3,
                       std::function<void()> on_forward = {}) {
    Objective objective(tiny_model(on_forward), tiny_data(), float64_options(), provenance());
    DirectionRequest directions;
    directions.seed = seed;
    const SurfaceSlice slice = make_surface_slice(objective, directions, request.y.has_value());
    return compute_surface({{{"train", &objective}}, nullptr}, slice, request, out, "test");
}

}  // namespace

TEST_CASE("filter normalization gives each direction filter its weight filter's norm and ignores biases and BN") {
    auto net = tiny_network();
    const NamedTensors weights = named_parameters_of(*net);
    at::Generator generator = at::detail::createCPUGenerator(5);
    NamedTensors direction = random_direction(weights, generator);
    normalize_direction(direction, weights, DirectionNorm::filter, true);
    for (std::size_t i = 0; i < weights.size(); ++i) {
        const auto& [name, w] = weights[i];
        const torch::Tensor d = direction[i].second;
        INFO(name);
        REQUIRE(d.sizes() == w.sizes());
        if (w.dim() <= 1) {
            CHECK(d.abs().max().item<double>() == 0.0);  // biases, BN scale and shift
            continue;
        }
        for (int64_t slice = 0; slice < w.size(0); ++slice)  // float32 norms: 1e-6 relative
            CHECK(d[slice].norm().item<double>() == Approx(w[slice].norm().item<double>()).epsilon(1e-6));
    }

    SECTION("without ignoring, 1-D tensors are normalized element by element") {
        NamedTensors all = random_direction(weights, generator);
        normalize_direction(all, weights, DirectionNorm::filter, false);
        for (std::size_t i = 0; i < weights.size(); ++i)
            if (weights[i].second.dim() == 1)
                CHECK(torch::allclose(all[i].second.abs(), weights[i].second.detach().abs(), 1e-6, 0));
    }
    SECTION("layer normalization matches whole tensors") {
        NamedTensors layered = random_direction(weights, generator);
        normalize_direction(layered, weights, DirectionNorm::layer, false);
        for (std::size_t i = 0; i < weights.size(); ++i)
            CHECK(layered[i].second.norm().item<double>() ==
                  Approx(weights[i].second.norm().item<double>()).epsilon(1e-6));
    }
}

TEST_CASE("grid specs give evenly spaced coordinates, and bad specs say how to fix them") {
    CHECK(GridAxis::parse("-1:1:5", "x").coordinates() == std::vector<double>{-1, -0.5, 0, 0.5, 1});
    CHECK(GridAxis::parse("0.5:0.5:1", "x").coordinates() == std::vector<double>{0.5});
    CHECK(GridAxis::parse("-0.5:1.5:41", "x").coordinates().back() == 1.5);
    CHECK_THROWS_WITH(GridAxis::parse("1:-1:5", "x"), Contains("MIN must be less than MAX") && Contains("-1:1:5"));
    CHECK_THROWS_WITH(GridAxis::parse("0:1:0", "y"), Contains("y: '0:1:0'") && Contains("between 1 and 100000"));
    CHECK_THROWS_WITH(GridAxis::parse("-1:1:100000000", "x"), Contains("between 1 and 100000 (got 100000000)"));
    // Axes of allowed sizes can still make a grid too large to hold.
    SurfaceRequest request;
    request.x = GridAxis::parse("-1:1:2000", "x");
    request.y = GridAxis::parse("-1:1:1000", "y");
    CHECK_THROWS_WITH(request.validate(), Contains("y: the grid") && Contains("has 2000000 points"));
    CHECK_THROWS_WITH(GridAxis::parse("text", "x"), Contains("MIN:MAX:NUM"));
    CHECK_THROWS_WITH(GridAxis::parse("0:1:2.5", "x"), Contains("MIN:MAX:NUM"));
    CHECK_THROWS_WITH(GridAxis::parse("0:1:1", "x"), Contains("MIN = MAX"));
}

TEST_CASE("shards take every N-th point and follow Slurm's array variables") {
    const Shard shard = Shard::parse("1/3");
    CHECK((shard.owns(1) && shard.owns(4) && !shard.owns(0) && !shard.owns(5)));
    CHECK_THROWS_WITH(Shard::parse("3/3"), Contains("0 <= I < N"));
    CHECK_THROWS_WITH(Shard::parse("a/b"), Contains("I/N"));
    CHECK(Shard::parse("").spec() == "0/1");
    // The program passes Slurm's variables; the library reads no environment.
    ::setenv("SLURM_ARRAY_TASK_ID", "5", 1);
    CHECK(Shard::parse("").spec() == "0/1");
    ::unsetenv("SLURM_ARRAY_TASK_ID");
    CHECK(Shard::from_slurm_array("5", "3", "4").spec() == "1/3");
    CHECK(Shard::from_slurm_array("2", "3", nullptr).spec() == "2/3");
    CHECK(Shard::from_slurm_array(nullptr, "3", "4").spec() == "0/1");
    CHECK_THROWS_WITH(Shard::from_slurm_array("9", "3", "4"), Contains("shard: ") && Contains("give the shard as I/N"));
    CHECK_THROWS_WITH(Shard::from_slurm_array("1", nullptr, nullptr), Contains("SLURM_ARRAY_TASK_COUNT=(unset)"));
}

TEST_CASE("a 2D surface equals the loss recomputed from its saved directions, in (ny, nx) order") {
    TemporaryDirectory directory;
    const auto out = directory / "surface.h5";
    const SurfaceRun run = run_surface(grid("-1:1:5", "-0.5:0.5:3"), out);
    CHECK(run.complete);
    CHECK(run.computed == 15);

    const Hdf5File file(out, Hdf5File::Mode::read);
    CHECK(file.string_attribute("/", "format") == "cellscape-surface");
    CHECK(file.string_attribute("/", "directions") == "random");
    CHECK(file.int_attribute("/", "directions_seed") == 3);  // run_surface's seed
    const torch::Tensor loss = file.read("train_loss"), accuracy = file.read("train_acc");
    REQUIRE(loss.sizes() == torch::IntArrayRef{3, 5});
    CHECK(file.read("completed").sum().item<int64_t>() == 15);
    const auto xs = file.read("xcoordinates"), ys = file.read("ycoordinates");
    REQUIRE((xs.size(0) == 5 && ys.size(0) == 3));

    // Independently: a fresh network, weights w0 + a dx + b dy from the file,
    // one batch of all 40 samples, PyTorch's mean cross-entropy. float64;
    // batching changes only summation order, so 1e-12 relative.
    auto reference = tiny_network();
    reference->to(torch::kFloat64);
    reference->eval();
    const NamedTensors origin = named_parameters_of(*reference);
    std::vector<torch::Tensor> w0;
    for (const auto& [name, tensor] : origin) w0.push_back(tensor.detach().clone());
    const LabelledImages data = tiny_data();
    for (int64_t iy = 0; iy < 3; ++iy)
        for (int64_t ix = 0; ix < 5; ++ix) {
            torch::NoGradGuard no_grad;
            const double a = xs[ix].item<double>(), b = ys[iy].item<double>();
            for (std::size_t i = 0; i < origin.size(); ++i)
                origin[i].second.copy_(w0[i] + a * file.read("xdirection/" + origin[i].first) +
                                       b * file.read("ydirection/" + origin[i].first));
            const auto logits = reference->forward(data.images.to(torch::kFloat64));
            INFO("point (" << a << ", " << b << ")");
            CHECK(loss[iy][ix].item<double>() ==
                  Approx(torch::nn::functional::cross_entropy(logits, data.labels).item<double>()).epsilon(1e-12));
            CHECK(accuracy[iy][ix].item<double>() == logits.argmax(1).eq(data.labels).to(torch::kFloat64).mean().item<double>());
        }

    SECTION("the centre of the grid is the Objective's own loss") {
        Objective objective(tiny_model(), tiny_data(), float64_options(), provenance());
        CHECK(loss[1][2].item<double>() == Approx(objective.loss_and_accuracy().loss).epsilon(1e-12));
    }
}

TEST_CASE("an interrupted surface resumes to the file an uninterrupted run writes") {
    TemporaryDirectory directory;
    const SurfaceRequest request = grid("-1:1:4", "-1:1:3");
    run_surface(request, directory / "straight.h5");

    // SIGINT during the 4th point: that point finishes and is saved, then the run stops.
    int forward_calls = 0;
    const auto interrupt_on_fifth_point = [&] {
        if (++forward_calls == 1 + 4 * 3) std::raise(SIGINT);  // one check pass, then 3 batches per point
    };
    const auto out = directory / "resumed.h5";
    {
        const InterruptGuard guard;  // the program's: the library only reads the request
        CHECK_THROWS_AS(run_surface(request, out, 3, interrupt_on_fifth_point), Interrupted);
    }
    CHECK_FALSE(std::filesystem::exists(out));
    auto partial = out, points = out;
    partial += ".partial";
    points += ".points";
    REQUIRE(std::filesystem::exists(partial));
    CHECK(Hdf5File(points, Hdf5File::Mode::read).read("completed").sum().item<int64_t>() == 4);

    SECTION("the same command continues where it stopped") {
        const SurfaceRun run = run_surface(request, out);
        CHECK(run.resumed == 4);
        CHECK(run.computed == 8);
        CHECK_FALSE(std::filesystem::exists(partial));
        CHECK_FALSE(std::filesystem::exists(points));
        require_identical(point_values(out), point_values(directory / "straight.h5"));
        const SurfaceRun again = run_surface(request, out);  // finished: found, not recomputed
        CHECK(again.computed == 0);
        CHECK(again.complete);
    }
    SECTION("other settings are refused rather than mixed into the partial file") {
        CHECK_THROWS_WITH(run_surface(request, out, 4), Contains("other settings") && Contains("delete it"));
        CHECK_THROWS_WITH(run_surface(grid("-1:1:5", "-1:1:3"), out), Contains("other settings"));
    }
}

TEST_CASE("the objective's weights are back at the origin however a surface ends") {
    TemporaryDirectory directory;
    const SurfaceRequest request = grid("-1:1:3", "-1:1:3");
    int forward_calls = 0;
    bool fail = false;
    Objective objective(tiny_model([&] {
                            if (fail && ++forward_calls == 7) throw std::runtime_error("a failing forward pass");
                        }),
                        tiny_data(), float64_options(), provenance());
    const torch::Tensor origin = objective.parameter_vector().clone();
    DirectionRequest directions;
    const SurfaceSlice slice = make_surface_slice(objective, directions, true);
    fail = true;  // the third point's evaluation throws, with the weights moved there
    CHECK_THROWS_WITH(compute_surface({{{"train", &objective}}, nullptr}, slice, request, directory / "s.h5", "test"),
                      Contains("a failing forward pass"));
    CHECK(torch::equal(objective.parameter_vector(), origin));
    fail = false;
    compute_surface({{{"train", &objective}}, nullptr}, slice, request, directory / "s.h5", "test");
    CHECK(torch::equal(objective.parameter_vector(), origin));
}

TEST_CASE("only a non-finite gradient makes a NaN point, and any other error in the gradient variance stops the surface") {
    TemporaryDirectory directory;
    Objective objective(tiny_model(), tiny_data(), float64_options(), provenance());
    Objective uneven(tiny_model(), tiny_data(), float64_options(16), provenance());  // 40 samples: 16, 16, 8
    DirectionRequest directions;
    const SurfaceSlice slice = make_surface_slice(objective, directions, false);
    CHECK_THROWS_WITH(compute_surface({{{"train", &objective}}, &uneven}, slice, grid("-1:1:3"), directory / "gv.h5",
                                      "test"),
                      Contains("do not split into 3 equal batches"));
    CHECK_FALSE(std::filesystem::exists(directory / "gv.h5"));
}

TEST_CASE("merged shards equal a single run, and incomplete or foreign shard sets are refused") {
    TemporaryDirectory directory;
    SurfaceRequest request = grid("-1:1:5", "-1:1:2");
    run_surface(request, directory / "single.h5");
    std::vector<std::filesystem::path> shards;
    for (int64_t i = 0; i < 3; ++i) {
        request.shard = {i, 3};
        shards.push_back(directory / ("shard" + std::to_string(i) + ".h5"));
        const SurfaceRun run = run_surface(request, shards.back());
        CHECK(run.shard_points == (i == 0 ? 4 : 3));
    }
    merge_surface_shards(directory / "merged.h5", shards, "merge");
    require_identical(point_values(directory / "merged.h5"), point_values(directory / "single.h5"));

    CHECK_THROWS_WITH(merge_surface_shards(directory / "m.h5", {shards[0], shards[2]}, "merge"),
                      Contains("1/3") && Contains("missing"));
    CHECK_THROWS_WITH(merge_surface_shards(directory / "m.h5", {shards[0], shards[0], shards[1]}, "merge"),
                      Contains("again"));
    request.shard = {1, 3};
    run_surface(request, directory / "other-seed.h5", 9);
    CHECK_THROWS_WITH(merge_surface_shards(directory / "m.h5", {shards[0], directory / "other-seed.h5", shards[2]}, "merge"),
                      Contains("other settings"));
    // A shard marked finished whose own points are not all computed (damaged, or edited).
    {
        Hdf5File damaged(shards[1], Hdf5File::Mode::read_write);
        torch::Tensor completed = damaged.read("completed");
        completed.view({-1})[1] = 0;  // point 1 belongs to shard 1/3
        damaged.write("completed", completed);
    }
    CHECK_THROWS_WITH(merge_surface_shards(directory / "m.h5", shards, "merge"),
                      Contains("its point 1 was not computed"));
    CHECK_THROWS_WITH(merge_surface_shards(directory / "merged.h5", shards, "merge"), Contains("already exists"));
}

TEST_CASE("directions from an earlier surface, Hessian-free interpolation and a gradient-variance surface") {
    TemporaryDirectory directory;
    run_surface(grid("-1:1:3", "-1:1:3"), directory / "first.h5");
    Objective objective(tiny_model(), tiny_data(), float64_options(8), provenance());

    SECTION("--directions-from reuses the stored directions exactly") {
        DirectionRequest request;
        request.source = DirectionSource::surface;
        request.file = directory / "first.h5";
        const SurfaceSlice slice = make_surface_slice(objective, request, true);
        const Hdf5File first(directory / "first.h5", Hdf5File::Mode::read);
        for (const auto& [name, tensor] : slice.y_direction) CHECK(torch::equal(tensor, first.read("ydirection/" + name)));
        request.norm = DirectionNorm::filter;
        CHECK_THROWS_WITH(make_surface_slice(objective, request, true), Contains("used as they are"));
    }
    SECTION("the gradient variance at the origin is the gradient variance of the Objective") {
        Objective noise(tiny_model(), tiny_data(), float64_options(8), provenance());
        const GradientVariance expected = gradient_variance(noise);
        DirectionRequest request;
        const SurfaceSlice slice = make_surface_slice(objective, request, false);
        compute_surface({{{"train", &objective}}, &noise}, slice, grid("-0.5:0.5:3"), directory / "gv.h5", "test");
        const auto values = point_values(directory / "gv.h5");
        REQUIRE(values.at("gradient_variance").sizes() == torch::IntArrayRef{3});  // 1D: shape (nx)
        CHECK(values.at("gradient_variance")[1].item<double>() == Approx(expected.total_variance).epsilon(1e-12));
        CHECK(values.at("noise_scale")[1].item<double>() == Approx(expected.noise_scale).epsilon(1e-10));
        CHECK(values.at("gradient_variance")[0].item<double>() != values.at("gradient_variance")[1].item<double>());
    }
    SECTION("a difference direction steps from the weights to the target") {
        NamedTensors target;
        for (const auto& [name, tensor] : objective.parameters()) target.emplace_back(name, tensor.detach() * 2);
        const NamedTensors difference = difference_direction(target, objective.parameters(), "target.h5");
        for (std::size_t i = 0; i < target.size(); ++i)
            CHECK(torch::equal(difference[i].second, objective.parameters()[i].second.detach()));
        target.pop_back();
        CHECK_THROWS_WITH(difference_direction(target, objective.parameters(), "target.h5"),
                          Contains("target.h5 has no parameter"));
    }
}
