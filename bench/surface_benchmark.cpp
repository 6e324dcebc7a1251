// Loss-surface work on DARTS_V2 (C=16, 8 cells) over 1000 Fashion-MNIST test
// images, 2 threads: seconds per point of an 11x11 surface against one plain
// forward pass over the same images, and the cost of a gradient-variance point.
#include <benchmark/benchmark.h>

#include <torch/torch.h>

#include <filesystem>

#include "analysis/surface.hpp"
#include "benchmark_network.hpp"
#include "data/dataset.hpp"

namespace {

using namespace cellscape;

const Dataset& data() {
    static const Dataset instance = load_dataset({"fashion-mnist", 1280, 1000, 0, true});
    return instance;
}

// The network as a plain LibTorch user runs it: contiguous (NCHW) feature maps.
void BM_PlainForward(benchmark::State& state) {
    nn::DartsNetwork network = bench::benchmark_network();
    network->eval();
    network->set_memory_format(torch::MemoryFormat::Contiguous);
    const torch::Tensor images = data().test.images;
    const int64_t batch_size = state.range(0);
    torch::NoGradGuard no_grad;
    for (auto _ : state)
        for (int64_t start = 0; start < images.size(0); start += batch_size)
            benchmark::DoNotOptimize(
                network->forward(images.narrow(0, start, std::min(batch_size, images.size(0) - start))).sum().item<double>());
}
BENCHMARK(BM_PlainForward)->Arg(1000)->Arg(250)->Arg(64)->Unit(benchmark::kMillisecond)->MinTime(5.0);

std::unique_ptr<Objective> make_objective(const LabelledImages& set, int64_t batch_size) {
    nn::DartsNetwork network = bench::benchmark_network();
    auto model = std::make_unique<ModuleModel>(
        network.ptr(), [network](const torch::Tensor& x) mutable { return network->forward(x); });
    ObjectiveOptions options;
    options.samples = set.size();
    options.batch_size = batch_size;
    ObjectiveProvenance provenance;
    provenance.weights_hash = "benchmark";
    return std::make_unique<Objective>(std::move(model), set, options, provenance);
}

std::filesystem::path scratch_file(const std::string& name) {
    const auto path = std::filesystem::temp_directory_path() / ("cellscape-bench-" + name + ".h5");
    std::filesystem::remove(path);
    return path;
}

// cellscape surface --x -1:1:11 --y -1:1:11 --eval test --samples 1000 (batch 64).
void BM_SurfacePoint(benchmark::State& state) {
    auto objective = make_objective(data().test, state.range(0));
    SurfaceRequest request;
    request.x = GridAxis::parse("-1:1:11", "--x");
    request.y = GridAxis::parse("-1:1:11", "--y");
    const SurfaceSlice slice = make_surface_slice(*objective, {}, true);
    for (auto _ : state) {
        const auto out = scratch_file("surface");
        const SurfaceRun run = compute_surface({{{"test", objective.get()}}, nullptr}, slice, request, out, "bench");
        state.counters["seconds_per_point"] = run.seconds_per_point;
        std::filesystem::remove(out);
    }
}
BENCHMARK(BM_SurfacePoint)->Arg(64)->Unit(benchmark::kSecond)->Iterations(1);

// One point with --gradient-variance --gv-batches 10 --gv-batch-size 128.
void BM_GradientVariancePoint(benchmark::State& state) {
    auto objective = make_objective(data().test, 64);
    auto noise = make_objective(data().train, 128);
    SurfaceRequest request;
    request.x = GridAxis::parse("0:0:1", "--x");
    const SurfaceSlice slice = make_surface_slice(*objective, {}, false);
    for (auto _ : state) {
        const auto out = scratch_file("gradient-variance");
        const SurfaceRun run = compute_surface({{{"test", objective.get()}}, noise.get()}, slice, request, out, "bench");
        state.counters["seconds_per_point"] = run.seconds_per_point;
        std::filesystem::remove(out);
    }
}
BENCHMARK(BM_GradientVariancePoint)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
