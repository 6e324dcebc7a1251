// `cellscape rank`'s per-cell work without training: the structural metrics
// (widths, depths, parameterized edges, parameters and multiply-adds of the
// C=16, 8-cell, 3x32x32 network) of 10,000 uniformly sampled DARTS-space
// genotypes, and the association table of 1,200 cells against one value
// (12 metrics, 2,000 bootstrap resamples, 5,000 permutations each).
#include <benchmark/benchmark.h>

#include "cellscape/cells/sampling.hpp"
#include "cellscape/rank/rank_associations.hpp"
#include "cellscape/rank/rank_features.hpp"
#include "cellscape/util/random.hpp"

namespace {

using namespace cellscape;

void BM_StructuralFeatures(benchmark::State& state) {
    const std::vector<Genotype> genotypes = sample_genotypes(static_cast<int>(state.range(0)), 1);
    const nn::NetworkConfig config;  // C=16, 8 cells, 3x32x32, as the benchmarks train
    for (auto _ : state) benchmark::DoNotOptimize(structural_features(genotypes, config).metrics.size());
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_StructuralFeatures)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_AssociationTable(benchmark::State& state) {
    const std::vector<Genotype> genotypes = sample_genotypes(1200, 2);
    const StructuralFeatures features = structural_features(genotypes, nn::NetworkConfig{});
    SeededRandom random(3);
    RankValue value{"accuracy", {}};
    for (std::size_t c = 0; c < genotypes.size(); ++c)
        value.values.push_back(0.01 * features.metrics[4][c] + random.normal());
    std::vector<RankMetric> metrics;
    for (std::size_t m = 0; m < features.metric_names.size(); ++m) {
        RankMetric metric{features.metric_names[m], "structure", {}};
        for (double v : features.metrics[m]) metric.replicates.push_back({v});
        metrics.push_back(std::move(metric));
    }
    const RankOptions options;
    for (auto _ : state)
        benchmark::DoNotOptimize(rank_associations(metrics, {value}, features.operation_content(), options).size());
}
BENCHMARK(BM_AssociationTable)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
