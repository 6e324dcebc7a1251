// Hessian work on DARTS_V2 (C=16, 8 cells) over 256 Fashion-MNIST samples,
// 2 threads: (a) one HVP against one gradient, under each fast-path variant
// (benchmark_network.hpp; 4 is LibTorch's own modules);
// (b) HVPs and time to the top eigenvalue within 1e-4 relative for Lanczos
// (Spectra) and plain power iteration;
// (c) the same for the top 5.
#include <benchmark/benchmark.h>

#include <torch/torch.h>

#include "cellscape/analysis/hessian.hpp"
#include "benchmark_network.hpp"

namespace {

using namespace cellscape;

struct Workload {
    nn::DartsNetwork network{nullptr};
    std::unique_ptr<Objective> objective;
};

Workload make_workload() {
    const Dataset data = load_dataset({"fashion-mnist", 2048, 0, 0, true});
    Workload workload;
    workload.network = bench::benchmark_network();
    nn::DartsNetwork& network = workload.network;
    // A few SGD steps, so the Hessian is not the one of random initial weights.
    torch::optim::SGD optimizer(network->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
    for (int64_t step = 0; step < 20; ++step) {
        optimizer.zero_grad();
        torch::nn::functional::cross_entropy(network->forward(data.train.images.narrow(0, step * 64, 64)),
                                             data.train.labels.narrow(0, step * 64, 64))
            .backward();
        optimizer.step();
    }
    ObjectiveOptions options;
    options.samples = 256;
    options.batch_size = 128;
    LabelledImages evaluation{data.train.images.narrow(0, 1280, 256), data.train.labels.narrow(0, 1280, 256)};
    workload.objective =
        std::make_unique<Objective>(darts_model(network), evaluation, options, ObjectiveProvenance{});
    return workload;
}

Workload& workload() {
    static Workload instance = make_workload();
    return instance;
}

Objective& objective() { return *workload().objective; }

// Argument: the fast-path variant (bench/benchmark_network.hpp); 4 is the
// same work through LibTorch's own modules.
void BM_Gradient(benchmark::State& state) {
    bench::VariantScope variant(state, state.range(0), workload().network);
    for (auto _ : state) benchmark::DoNotOptimize(objective().gradient().sum().item<double>());
}
BENCHMARK(BM_Gradient)->Unit(benchmark::kMillisecond)->MinTime(10.0)->Apply(bench::all_variants);

void BM_HessianVectorProduct(benchmark::State& state) {
    const auto v = torch::randn({objective().dimension()}, torch::kFloat64);
    bench::VariantScope variant(state, state.range(0), workload().network);
    for (auto _ : state) benchmark::DoNotOptimize(objective().hessian_vector_product(v).sum().item<double>());
}
BENCHMARK(BM_HessianVectorProduct)->Unit(benchmark::kMillisecond)->MinTime(10.0)->Apply(bench::all_variants);

// Reference: the top five eigenvalues to a tight tolerance, computed once.
// 1e-7 is three orders below the 1e-4 the runs are judged at, and about the
// limit float32 HVPs allow (a tighter tolerance never converges).
const std::vector<double>& reference_top5() {
    static const std::vector<double> values = [] {
        EigenOptions options;
        options.count = 5;
        options.tolerance = 1e-7;
        return hessian_extreme_eigenpairs(objective(), options, true).values;
    }();
    return values;
}

void report(benchmark::State& state, int64_t products, double relative_error) {
    state.counters["HVPs"] = static_cast<double>(products);
    state.counters["relative_error"] = relative_error;
}

// Arguments: the Krylov dimension (--ncv; 20 is the default for k = 1) and
// -log10 of Spectra's tolerance (--tol), which bounds the Ritz residual: the
// eigenvalue's own error is about the residual squared over the spectral gap.
void BM_TopEigenvalueLanczos(benchmark::State& state) {
    const double reference = reference_top5().front();
    for (auto _ : state) {
        EigenOptions options;
        options.count = 1;
        options.krylov_dimension = state.range(0);
        options.tolerance = std::pow(10.0, -static_cast<double>(state.range(1)));
        const auto result = hessian_extreme_eigenpairs(objective(), options, true);
        // The solver's own products, without the one residual check.
        report(state, result.hessian_vector_products - 1, std::abs(result.values.front() - reference) / reference);
    }
}
BENCHMARK(BM_TopEigenvalueLanczos)
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->Args({20, 4})
    ->Args({6, 4})
    ->Args({6, 3})
    ->Args({6, 2})
    ->Args({10, 2});

// PyHessian's stopping rule: successive estimates within 1e-4 relative.
void BM_TopEigenvaluePowerIteration(benchmark::State& state) {
    const double reference = reference_top5().front();
    for (auto _ : state) {
        const auto result = power_iteration(objective(), 1000, 0, [](double previous, double estimate) {
            return std::abs(estimate - previous) <= 1e-4 * std::abs(estimate);
        });
        report(state, result.hessian_vector_products, std::abs(result.value - reference) / reference);
    }
}
BENCHMARK(BM_TopEigenvaluePowerIteration)->Unit(benchmark::kSecond)->Iterations(1);

// The fewest HVPs power iteration needs: stopped by the reference itself as
// soon as its estimate is within 1e-4.
void BM_TopEigenvaluePowerIterationToReference(benchmark::State& state) {
    const double reference = reference_top5().front();
    for (auto _ : state) {
        const auto result = power_iteration(objective(), 1000, 0, [&](double, double estimate) {
            return std::abs(estimate - reference) <= 1e-4 * std::abs(reference);
        });
        report(state, result.hessian_vector_products, std::abs(result.value - reference) / reference);
    }
}
BENCHMARK(BM_TopEigenvaluePowerIterationToReference)->Unit(benchmark::kSecond)->Iterations(1);

void BM_Top5Lanczos(benchmark::State& state) {
    const auto& reference = reference_top5();
    for (auto _ : state) {
        EigenOptions options;
        options.count = 5;
        options.tolerance = 1e-4;
        const auto result = hessian_extreme_eigenpairs(objective(), options, true);
        double worst = 0;
        for (std::size_t i = 0; i < 5; ++i)
            worst = std::max(worst, std::abs(result.values[i] - reference[i]) / std::abs(reference[i]));
        report(state, result.hessian_vector_products - 5, worst);
    }
}
BENCHMARK(BM_Top5Lanczos)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
