// Hessian work on DARTS_V2 (C=16, 8 cells) over 256 Fashion-MNIST samples,
// 2 threads: (a) one HVP against one gradient, under each fast-path variant
// (benchmark_network.hpp; 4 is LibTorch's own modules);
// (b) HVPs and time to the top eigenvalue within 1e-4 relative for Lanczos
// (Spectra) and plain power iteration;
// (c) the same for the top 5.
#include <benchmark/benchmark.h>

#include <torch/torch.h>

#include "cellscape/analysis/hessian.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include "benchmark_network.hpp"

namespace {

using namespace cellscape;

struct Workload {
    nn::DartsNetwork network{nullptr};
    std::unique_ptr<Objective> objective;
};

// `steps` SGD steps from the seeded initialization (0: random weights).
Workload make_workload(int64_t steps) {
    const Dataset data = load_dataset({"fashion-mnist", 2048, 0, 0, true});
    Workload workload;
    workload.network = bench::benchmark_network();
    nn::DartsNetwork& network = workload.network;
    torch::optim::SGD optimizer(network->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
    for (int64_t step = 0; step < steps; ++step) {
        optimizer.zero_grad();
        torch::nn::functional::cross_entropy(network->forward(data.train.images.narrow(0, step * 64, 64)),
                                             data.train.labels.narrow(0, step * 64, 64))
            .backward();
        optimizer.step();
    }
    ObjectiveOptions options;
    options.batch_size = 128;
    LabelledImages evaluation{data.train.images.narrow(0, 1280, 256), data.train.labels.narrow(0, 1280, 256)};
    workload.objective =
        std::make_unique<Objective>(darts_model(network), evaluation, options, ObjectiveProvenance{});
    return workload;
}

// A few SGD steps, so the Hessian is not the one of random initial weights.
Workload& workload() {
    static Workload instance = make_workload(20);
    return instance;
}

Workload& initial_workload() {
    static Workload instance = make_workload(0);
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

// Arguments: the fast-path variant, and whether the gradient graphs stay
// kept between products (1: what Lanczos, Hutchinson and SLQ get after their
// first product) or are rebuilt for each (0: forward, first backward and
// second backward every time). The counter kept_MiB is the memory the kept
// graphs hold.
void BM_HessianVectorProduct(benchmark::State& state) {
    const auto v = torch::randn({objective().dimension()}, torch::kFloat64);
    bench::VariantScope variant(state, state.range(0), workload().network);
    const bool kept = state.range(1) != 0;
    objective().release_kept_graphs();  // built under another variant
    if (kept) benchmark::DoNotOptimize(objective().hessian_vector_product(v).sum().item<double>());
    for (auto _ : state) {
        if (!kept) objective().release_kept_graphs();
        benchmark::DoNotOptimize(objective().hessian_vector_product(v).sum().item<double>());
    }
    const KeptGraphs graphs = objective().kept_graphs();
    state.counters["kept_batches"] = static_cast<double>(kept ? graphs.batches_kept : 0);
    state.counters["kept_MiB"] = kept ? static_cast<double>(graphs.bytes) / (1 << 20) : 0.0;
    objective().release_kept_graphs();
}
BENCHMARK(BM_HessianVectorProduct)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(10.0)
    ->Apply([](benchmark::internal::Benchmark* benchmark) {
        for (std::size_t i = 0; i < bench::variants.size(); ++i) benchmark->Args({static_cast<int64_t>(i), 0});
        benchmark->Args({0, 1});
        benchmark->Args({4, 1});
    });

// Reference: the top five eigenvalues to a tight tolerance, computed once.
// 1e-8 is four orders below the 1e-4 the runs are judged at; float32 HVPs
// may not allow it, so the budget of 400 products ends it (the estimate
// reached is printed).
const std::vector<double>& reference_top5(Objective& of) {
    static std::map<Objective*, std::vector<double>> values;
    auto& found = values[&of];
    if (found.empty()) {
        EigenOptions options;
        options.count = 5;
        options.tol = 1e-8;
        options.max_hvps = 400;
        const auto result = hessian_extreme_eigenpairs(of, options, true);
        found = result.ritz_values;
        std::fprintf(stderr, "reference top 5: %.10g %.10g %.10g %.10g %.10g (%s, %lld HVPs, worst estimate %.1e)\n",
                     found[0], found[1], found[2], found[3], found[4], describe(result.stop).c_str(),
                     static_cast<long long>(result.hessian_vector_products),
                     *std::max_element(result.error_estimates.begin(), result.error_estimates.end()));
        of.release_kept_graphs();
    }
    return found;
}
const std::vector<double>& reference_top5() { return reference_top5(objective()); }

void report(benchmark::State& state, int64_t products, double relative_error) {
    state.counters["HVPs"] = static_cast<double>(products);
    state.counters["relative_error"] = relative_error;
}

// Arguments: the basis size (--ncv; 0 automatic), -log10 of the tolerance
// (--tol), the weights (1: after 20 SGD steps, 0: random initial ones) and
// the start (1: gradient plus Gaussian, 0: Gaussian). Defaults: {0, 4, w, 1}. Each run starts without kept graphs, as a command does.
void BM_TopEigenvalueLanczos(benchmark::State& state) {
    Objective& of = state.range(2) ? objective() : *initial_workload().objective;
    const double reference = reference_top5(of).front();
    for (auto _ : state) {
        of.release_kept_graphs();
        EigenOptions options;
        options.count = 1;
        options.ncv = state.range(0);
        options.tol = std::pow(10.0, -static_cast<double>(state.range(1)));
        options.gradient_start = state.range(3) != 0;
        const auto result = hessian_extreme_eigenpairs(of, options, true);
        report(state, result.hessian_vector_products, std::abs(result.values.front() - reference) / reference);
        state.counters["error_estimate"] = result.error_estimates.front();
    }
    of.release_kept_graphs();
}
BENCHMARK(BM_TopEigenvalueLanczos)
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->ArgsProduct({{0}, {2, 3, 4}, {1, 0}, {1, 0}});

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
        options.tol = 1e-4;
        const auto result = hessian_extreme_eigenpairs(objective(), options, true);
        double worst = 0;
        for (std::size_t i = 0; i < 5; ++i)
            worst = std::max(worst, std::abs(result.values[i] - reference[i]) / std::abs(reference[i]));
        report(state, result.hessian_vector_products, worst);
    }
}
BENCHMARK(BM_Top5Lanczos)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
