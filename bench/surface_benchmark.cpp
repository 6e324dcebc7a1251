// Loss-surface work on DARTS_V2 (C=16, 8 cells) over 1000 Fashion-MNIST test
// images, 2 threads: seconds per point of a 3x3 surface, under each fast-path
// variant, against one plain forward pass over the same images, and the cost
// of a gradient-variance point.
#include <benchmark/benchmark.h>

#include <torch/torch.h>

#include <filesystem>

#include "cellscape/analysis/surface.hpp"
#include "benchmark_network.hpp"
#include "cellscape/data/dataset.hpp"

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

struct Workload {
    nn::DartsNetwork network{nullptr};
    std::unique_ptr<Objective> objective;
};

Workload make_workload(const LabelledImages& set, int64_t batch_size) {
    Workload workload;
    workload.network = bench::benchmark_network();
    nn::DartsNetwork network = workload.network;
    auto model = std::make_unique<ModuleModel>(
        network.ptr(), [network](const torch::Tensor& x) mutable { return network->forward(x); });
    ObjectiveOptions options;
    options.batch_size = batch_size;
    ObjectiveProvenance provenance;
    provenance.weights_hash = "benchmark";
    workload.objective = std::make_unique<Objective>(std::move(model), set, options, provenance);
    return workload;
}

std::filesystem::path scratch_file(const std::string& name) {
    const auto path = std::filesystem::temp_directory_path() / ("cellscape-bench-" + name + ".h5");
    std::filesystem::remove(path);
    return path;
}

// cellscape surface --x -1:1:3 --y -1:1:3 --eval test --samples 1000 (batch 64),
// under each fast-path variant (benchmark_network.hpp).
void BM_SurfacePoint(benchmark::State& state) {
    Workload workload = make_workload(data().test, 64);
    bench::VariantScope variant(state, state.range(0), workload.network);
    SurfaceRequest request;
    request.x = GridAxis::parse("-1:1:3", "--x");
    request.y = GridAxis::parse("-1:1:3", "--y");
    const SurfaceSlice slice = make_surface_slice(*workload.objective, {}, true);
    for (auto _ : state) {
        const auto out = scratch_file("surface");
        const SurfaceRun run =
            compute_surface({{{"test", workload.objective.get()}}, nullptr}, slice, request, out, "bench");
        state.counters["seconds_per_point"] = run.seconds_per_point;
        std::filesystem::remove(out);
    }
}
BENCHMARK(BM_SurfacePoint)->Unit(benchmark::kSecond)->Iterations(1)->Apply(bench::all_variants);

// One point with --gradient-variance --gv-batches 10 --gv-batch-size 128.
void BM_GradientVariancePoint(benchmark::State& state) {
    Workload evaluation = make_workload(data().test, 64), noise_workload = make_workload(data().train, 128);
    Objective* objective = evaluation.objective.get();
    Objective* noise = noise_workload.objective.get();
    SurfaceRequest request;
    request.x = GridAxis::parse("0:0:1", "--x");
    const SurfaceSlice slice = make_surface_slice(*objective, {}, false);
    for (auto _ : state) {
        const auto out = scratch_file("gradient-variance");
        const SurfaceRun run = compute_surface({{{"test", objective}}, noise}, slice, request, out, "bench");
        state.counters["seconds_per_point"] = run.seconds_per_point;
        std::filesystem::remove(out);
    }
}
BENCHMARK(BM_GradientVariancePoint)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
