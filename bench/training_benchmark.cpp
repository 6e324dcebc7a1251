// Training throughput of DARTS_V2 (C=16, 8 cells) on Fashion-MNIST batches of
// 64: the trainer's own step function (train/trainer.hpp) under each
// fast-path variant (benchmark_network.hpp), and how a step splits into
// forward, backward and optimizer step. Forward+backward is the floor a
// training step cannot beat.
#include <benchmark/benchmark.h>

#include <torch/torch.h>

#include "benchmark_network.hpp"
#include "cellscape/data/dataset.hpp"
#include "cellscape/train/trainer.hpp"

namespace {

using namespace cellscape;
constexpr int64_t batch_size = 64;

struct Setup {
    Dataset data = load_dataset({"fashion-mnist", 4096, 64, 0, true});
    nn::DartsNetwork network{nullptr};
    std::unique_ptr<torch::optim::SGD> optimizer;
    TrainingConfig config;  // the paper's defaults: lr 0.025, momentum 0.9, weight decay 3e-4, clipping at 5
    torch::Tensor images, labels;

    Setup() {
        network = bench::benchmark_network();
        network->train();
        optimizer = std::make_unique<torch::optim::SGD>(
            network->parameters(),
            torch::optim::SGDOptions(config.learning_rate).momentum(config.momentum).weight_decay(config.weight_decay));
        images = data.train.images.narrow(0, 0, batch_size);
        labels = data.train.labels.narrow(0, 0, batch_size);
    }
    torch::Tensor loss() { return torch::nn::functional::cross_entropy(network->forward(images), labels); }
};

Setup& setup() {
    static Setup instance;
    return instance;
}

void images_per_second(benchmark::State& state) {
    state.counters["images_per_second"] =
        benchmark::Counter(static_cast<double>(state.iterations() * batch_size), benchmark::Counter::kIsRate);
}

// The whole step as the trainer runs it: batch gather, then training_step
// (forward, backward, gradient clipping, SGD step).
void BM_TrainingStep(benchmark::State& state) {
    auto& s = setup();
    bench::VariantScope variant(state, state.range(0), s.network);
    const auto order = torch::randperm(s.data.train.size(), torch::kInt64);
    int64_t step = 0;
    for (auto _ : state) {
        const auto indices = order.narrow(0, (step++ * batch_size) % (s.data.train.size() - batch_size), batch_size);
        const auto result = training_step(s.network, *s.optimizer, s.data.train.images.index_select(0, indices),
                                          s.data.train.labels.index_select(0, indices), s.config);
        benchmark::DoNotOptimize(result.loss);
    }
    images_per_second(state);
}
BENCHMARK(BM_TrainingStep)->Unit(benchmark::kMillisecond)->MinTime(5.0)->Apply(bench::all_variants);

void BM_ForwardBackward(benchmark::State& state) {
    auto& s = setup();
    for (auto _ : state) {
        s.optimizer->zero_grad();
        auto loss = s.loss();
        loss.backward();
        benchmark::DoNotOptimize(loss.item<float>());
    }
    images_per_second(state);
}
BENCHMARK(BM_ForwardBackward)->Unit(benchmark::kMillisecond)->MinTime(5.0);

void BM_Forward(benchmark::State& state) {
    auto& s = setup();
    for (auto _ : state) {
        auto loss = s.loss();
        benchmark::DoNotOptimize(loss.item<float>());
    }
    images_per_second(state);
}
BENCHMARK(BM_Forward)->Unit(benchmark::kMillisecond)->MinTime(5.0);

void BM_ClipAndOptimizerStep(benchmark::State& state) {
    auto& s = setup();
    s.optimizer->zero_grad();
    s.loss().backward();
    for (auto _ : state) {
        torch::nn::utils::clip_grad_norm_(s.network->parameters(), s.config.gradient_clip);
        s.optimizer->step();
    }
}
BENCHMARK(BM_ClipAndOptimizerStep)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
