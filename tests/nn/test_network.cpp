// The DARTS network: operation shapes, parameter counts derived by hand,
// stable parameter names, the auxiliary head, drop path.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "cellscape/cells/metrics.hpp"
#include "cellscape/cells/zoo.hpp"
#include "cellscape/nn/network.hpp"
#include "cellscape/nn/detail/fast_paths.hpp"
#include "cellscape/nn/forward_observer.hpp"
#include "cellscape/nn/network_size.hpp"
#include "support/small_network.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using testing::small_config;
using Catch::Matchers::Contains;

namespace {

// Parameter counts from the operation definitions of docs/science.md section 1,
// written independently of the module code: convolutions have no bias,
// every BatchNorm has 2 parameters per channel.
int64_t operation_parameters(Operation op, int64_t c, bool stride_two) {
    switch (op) {
        case Operation::sep_conv_3x3: return 2 * (c * 9 + c * c + 2 * c);
        case Operation::sep_conv_5x5: return 2 * (c * 25 + c * c + 2 * c);
        case Operation::sep_conv_7x7: return 2 * (c * 49 + c * c + 2 * c);
        case Operation::dil_conv_3x3: return c * 9 + c * c + 2 * c;
        case Operation::dil_conv_5x5: return c * 25 + c * c + 2 * c;
        case Operation::conv_7x1_1x7: return 2 * 7 * c * c + 2 * c;
        case Operation::skip_connect: return stride_two ? c * c + 2 * c : 0;  // factorized reduce: 2 x (c x c/2)
        default: return 0;
    }
}

int64_t expected_parameters(const Genotype& genotype, int64_t c, int64_t layers, int64_t classes, int64_t in_channels) {
    int64_t total = in_channels * 3 * c * 9 + 2 * 3 * c;  // stem
    int64_t before_previous = 3 * c, previous = 3 * c, channels = c;
    for (int64_t layer = 0; layer < layers; ++layer) {
        const bool reduction = layer == layers / 3 || layer == 2 * layers / 3;
        if (reduction) channels *= 2;
        const Cell& cell = reduction ? genotype.reduce : genotype.normal;
        // preprocess0: ReLU-conv1x1-BN, or after a reduction a factorized reduce
        // (2 x c_pp x c/2 weights): the same count, c_pp * c + 2c. preprocess1 likewise.
        total += before_previous * channels + 2 * channels;
        total += previous * channels + 2 * channels;
        for (const Edge& edge : cell.edges)
            total += operation_parameters(edge.op, channels, reduction && edge.source < 2);
        before_previous = previous;
        previous = channels * static_cast<int64_t>(cell.concat.size());
    }
    return total + previous * classes + classes;  // classifier
}

// The modules NASWOT's reference code hooks in the DARTS code's network
// (every module whose type name contains "ReLU": one ReLU per operation that
// starts with one, the second ReLU of a separable convolution, and the
// ReLUConvBN preprocessing around its own ReLU), and its convolution and
// linear layers, counted from the operation definitions of docs/science.md
// section 1, independently of the module code.
struct LayerCounts {
    int64_t rectifiers = 0, layers = 0;
};

LayerCounts operation_layers(Operation op, bool stride_two) {
    switch (op) {
        case Operation::sep_conv_3x3:
        case Operation::sep_conv_5x5:
        case Operation::sep_conv_7x7: return {2, 4};
        case Operation::dil_conv_3x3:
        case Operation::dil_conv_5x5:
        case Operation::conv_7x1_1x7: return {1, 2};
        case Operation::skip_connect: return stride_two ? LayerCounts{1, 2} : LayerCounts{0, 0};
        default: return {0, 0};
    }
}

LayerCounts expected_layers(const Genotype& genotype, int64_t layers) {
    LayerCounts total{0, 2};  // the stem's convolution and the classifier
    bool previous_was_reduction = false;
    for (int64_t layer = 0; layer < layers; ++layer) {
        const bool reduction = layer == layers / 3 || layer == 2 * layers / 3;
        const Cell& cell = reduction ? genotype.reduce : genotype.normal;
        // preprocess1 is a ReLUConvBN (2: the module and its ReLU); so is
        // preprocess0, but after a reduction a factorized reduce (its ReLU,
        // two convolutions).
        total.rectifiers += previous_was_reduction ? 3 : 4;
        total.layers += previous_was_reduction ? 3 : 2;
        for (const Edge& edge : cell.edges) {
            const LayerCounts op = operation_layers(edge.op, reduction && edge.source < 2);
            total.rectifiers += op.rectifiers;
            total.layers += op.layers;
        }
        previous_was_reduction = reduction;
    }
    return total;
}

struct CountingObserver : nn::ForwardObserver {
    LayerCounts seen;
    void rectifier_input(const torch::Tensor&) override { ++seen.rectifiers; }
    torch::Tensor layer_output(const torch::Tensor&, const torch::Tensor& output) override {
        ++seen.layers;
        return output;
    }
};

}  // namespace

TEST_CASE("every operation keeps the size at stride 1 and halves it (rounding up) at stride 2") {
    torch::manual_seed(0);
    for (const auto& input : {torch::randn({2, 8, 8, 8}), torch::randn({2, 8, 9, 7})}) {
        for (Operation op : all_operations) {
            INFO(operation_name(op) << " on " << input.sizes());
            auto module = nn::make_edge_operation(op, 8, 1);
            CHECK(module->forward(input).sizes() == input.sizes());
            auto reducing = nn::make_edge_operation(op, 8, 2);
            const auto out = reducing->forward(input);
            CHECK(out.sizes() == torch::IntArrayRef{2, 8, (input.size(2) + 1) / 2, (input.size(3) + 1) / 2});
        }
    }
}

TEST_CASE("parameter count of a small DARTS_V2 network, counted by hand") {
    // C=4, 3 cells (reductions at 1 and 2), 1 input channel, 10 classes:
    //   stem 1*12*9 + 24 = 132
    //   cell 0 normal C=4: preprocess 2 x (12*4 + 8) = 112; 5 sep_conv_3x3 x 2*(36+16+8) = 600;
    //     dil_conv_3x3 36+16+8 = 60; skips 0                                      -> 772
    //   cell 1 reduce C=8: preprocess (12*8 + 16) + (16*8 + 16) = 256; pools and stride-1 skips 0 -> 256
    //   cell 2 reduce C=16 after a reduction: factorized reduce 16*16 + 32 = 288, preprocess1 32*16 + 32 = 544 -> 832
    //   classifier 64*10 + 10 = 650
    //   total 132 + 772 + 256 + 832 + 650 = 2642
    nn::DartsNetwork network(find_in_zoo("DARTS_V2")->genotype, small_config(4, 3, {1, 8, 8}));
    CHECK(network->parameter_count() == 2642);
}

TEST_CASE("parameter counts of the zoo networks match the operation definitions") {
    for (const auto& cell : genotype_zoo()) {
        for (auto [c, layers] : {std::pair<int64_t, int64_t>{4, 3}, {6, 5}, {8, 8}}) {
            INFO(cell.name << " C=" << c << " layers=" << layers);
            nn::DartsNetwork network(cell.genotype, small_config(c, layers, {3, 16, 16}));
            CHECK(network->parameter_count() == expected_parameters(cell.genotype, c, layers, 10, 3));
        }
    }
}

TEST_CASE("DARTS_V2 at the paper's size has the DARTS code base's 3.349342M parameters") {
    // The DARTS evaluation logs report "param size = 3.349342MB" for C=36, 20 cells, CIFAR-10.
    nn::DartsNetwork network(find_in_zoo("DARTS_V2")->genotype, small_config(36, 20, {3, 32, 32}));
    CHECK(network->parameter_count() == 3349342);
}

TEST_CASE("parameter names are stable module paths") {
    auto config = small_config(4, 3, {3, 32, 32});
    config.auxiliary = true;
    nn::DartsNetwork network(find_in_zoo("DARTS_V2")->genotype, config);
    std::set<std::string> names;
    for (const auto& item : network->named_parameters()) names.insert(item.key());
    for (const char* expected :
         {"stem.0.weight", "stem.1.weight", "cells.0.preprocess0.op.1.weight", "cells.0.ops.1.op.2.weight",
          "cells.0.ops.7.op.1.weight", "cells.2.preprocess0.conv_1.weight", "cells.2.preprocess0.bn.bias",
          "auxiliary_head.features.2.weight", "auxiliary_head.classifier.weight", "classifier.weight",
          "classifier.bias"})
        CHECK(names.count(expected) == 1);
    std::set<std::string> buffers;
    for (const auto& item : network->named_buffers()) buffers.insert(item.key());
    CHECK(buffers.count("cells.0.ops.0.op.3.running_mean") == 1);
}

TEST_CASE("every zoo network classifies a batch, including NASNet's 7x7 and AmoebaNet's 7x1-1x7") {
    torch::manual_seed(1);
    for (const auto& cell : genotype_zoo()) {
        INFO(cell.name);
        nn::DartsNetwork network(cell.genotype, small_config(4, 3, {3, 12, 12}));
        CHECK(network->forward(torch::randn({2, 3, 12, 12})).sizes() == torch::IntArrayRef{2, 10});
    }
}

TEST_CASE("channels-last feature maps (the fast CPU path) compute what contiguous ones do, for every zoo cell") {
    // float64, so differences come only from the kernels' summation order: 1e-10.
    torch::manual_seed(3);
    const torch::Tensor images = torch::randn({6, 3, 12, 12}, torch::kFloat64);
    for (const auto& cell : genotype_zoo()) {
        INFO(cell.name);
        nn::DartsNetwork network(cell.genotype, small_config(4, 3, {3, 12, 12}));
        network->to(torch::kFloat64);
        for (const bool training : {false, true}) {
            network->train(training);
            torch::NoGradGuard no_grad;
            network->set_memory_format(torch::MemoryFormat::Contiguous);
            const torch::Tensor plain = network->forward(images);
            network->set_memory_format(torch::MemoryFormat::ChannelsLast);
            CHECK(torch::allclose(network->forward(images), plain, 1e-10, 1e-10));
        }
    }
}

namespace {

// The loss on `images`, its gradient and a Hessian-vector product in the
// direction `directions` (one tensor per parameter), flattened into one vector.
torch::Tensor loss_gradient_and_curvature(nn::DartsNetwork& network, const torch::Tensor& images,
                                          const torch::Tensor& labels, const std::vector<torch::Tensor>& directions) {
    const auto parameters = network->parameters();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(network->forward(images), labels);
    const auto gradient = torch::autograd::grad({loss}, parameters, {}, true, true);
    torch::Tensor directional = torch::zeros({}, torch::kFloat64);
    for (std::size_t i = 0; i < gradient.size(); ++i) directional = directional + (gradient[i] * directions[i]).sum();
    const auto curvature = torch::autograd::grad({directional}, parameters);
    std::vector<torch::Tensor> flat = {loss.detach().view({1})};
    for (const auto& g : gradient) flat.push_back(g.detach().flatten());
    for (const auto& h : curvature) flat.push_back(h.flatten());
    return torch::cat(flat);
}

}  // namespace

TEST_CASE("the fast paths give the plain network's outputs, gradients and Hessian-vector products") {
    // Fast: BatchNorm folded into convolutions in eval mode, nn::convolution,
    // one ReLU per cell state, gradients kept channels-last. Plain: LibTorch's
    // modules (PlainOperationsGuard). float64; the paths differ only in
    // summation order and in the rounding of the folded weights: 1e-10.
    torch::manual_seed(4);
    const torch::Tensor images = torch::randn({5, 3, 12, 12}, torch::kFloat64);
    const torch::Tensor labels = torch::randint(0, 10, {5});
    for (const auto& cell : genotype_zoo()) {
        INFO(cell.name);
        nn::DartsNetwork network(cell.genotype, small_config(4, 3, {3, 12, 12}));
        network->to(torch::kFloat64);
        {
            torch::NoGradGuard no_grad;  // running statistics away from 0 and 1
            network->forward(images * 3 + 1);
        }
        std::vector<torch::Tensor> directions;
        for (const auto& parameter : network->parameters()) directions.push_back(torch::randn_like(parameter));
        for (const bool training : {false, true}) {
            INFO((training ? "train mode" : "eval mode"));
            network->train(training);
            torch::Tensor plain, plain_inference;
            {
                nn::PlainOperationsGuard guard;
                plain = loss_gradient_and_curvature(network, images, labels, directions);
                torch::NoGradGuard no_grad;
                plain_inference = network->forward(images);
            }
            const torch::Tensor fast = loss_gradient_and_curvature(network, images, labels, directions);
            CHECK(torch::allclose(fast, plain, 1e-10, 1e-10));
            {
                torch::NoGradGuard no_grad;
                CHECK(torch::allclose(network->forward(images), plain_inference, 1e-10, 1e-10));
            }
            // Each fast path alone off (the benchmarks measure them so): the
            // combinations are the same function too. Two cells cover every
            // operation kind (AmoebaNet: conv_7x1_1x7, sep_conv_7x7; DARTS_V2: dil_conv).
            if (cell.name != "DARTS_V2" && cell.name != "AmoebaNet") continue;
            for (const nn::FastPaths paths : {nn::FastPaths{false, true, true}, nn::FastPaths{true, false, true},
                                              nn::FastPaths{true, true, false}}) {
                INFO("convolution derivatives " << paths.convolution_derivatives << ", BatchNorm folding "
                                                << paths.batchnorm_folding << ", gradient layout "
                                                << paths.gradient_layout);
                nn::FastPathsGuard guard(paths);
                CHECK(torch::allclose(loss_gradient_and_curvature(network, images, labels, directions), plain, 1e-10,
                                      1e-10));
            }
        }
    }
}

TEST_CASE("the auxiliary head runs on 32x32 inputs in training only and refuses maps smaller than 8x8") {
    auto config = small_config(4, 6, {3, 32, 32});
    config.auxiliary = true;
    nn::DartsNetwork network(find_in_zoo("DARTS_V2")->genotype, config);
    network->train();
    auto output = network->forward_with_auxiliary(torch::randn({2, 3, 32, 32}));
    CHECK(output.auxiliary_logits.sizes() == torch::IntArrayRef{2, 10});
    CHECK(network->auxiliary_parameter_count() > 0);
    network->eval();
    CHECK_FALSE(network->forward_with_auxiliary(torch::randn({2, 3, 32, 32})).auxiliary_logits.defined());

    config.input_shape = {1, 28, 28};
    CHECK_THROWS_WITH(nn::DartsNetwork(find_in_zoo("DARTS_V2")->genotype, config),
                      Contains("needs feature maps of at least 8x8") && Contains("7x7"));
}

// Outside training the network hands each cell's output on rectified
// (concat(relu(state)), shared by both readers) and pools each state once;
// in training it runs every ReLU and pooling where the textbook puts them.
// The reference is the textbook form: raw concatenations, torch::relu
// applied by every reader.
TEST_CASE("the network computes the textbook assembly of its cells, in evaluation and in training") {
    torch::manual_seed(5);
    auto config = small_config(4, 6, {3, 32, 32});
    config.auxiliary = true;
    nn::DartsNetwork network(find_in_zoo("DARTS_V2")->genotype, config);  // its reduction cell pools states twice
    network->to(torch::kFloat64);
    const torch::Tensor x = torch::randn({3, 3, 32, 32}, torch::kFloat64);
    auto child = [&](const std::string& name) { return network->named_children()[name]; };
    const auto cells = child("cells")->as<torch::nn::ModuleList>();
    auto textbook = [&]() {
        torch::Tensor before_previous =
            child("stem")->as<torch::nn::Sequential>()->forward(x).contiguous(torch::MemoryFormat::ChannelsLast);
        torch::Tensor previous = before_previous, auxiliary;
        for (std::size_t layer = 0; layer < cells->size(); ++layer) {
            torch::Tensor next = cells->ptr(layer)->as<nn::CellModule>()->forward(before_previous, previous, 0.0);
            before_previous = previous;
            previous = next;
            if (layer == 4 && network->is_training())  // 2 * layers / 3
                auxiliary = child("auxiliary_head")->as<nn::AuxiliaryHead>()->forward(previous);
        }
        const torch::Tensor pooled = torch::adaptive_avg_pool2d(previous, {1, 1}).flatten(1);
        return std::make_pair(child("classifier")->as<torch::nn::Linear>()->forward(pooled), auxiliary);
    };
    // The same operations on the same values: equal to float64 rounding.
    network->eval();
    {
        const auto [logits, auxiliary] = textbook();
        CHECK(torch::allclose(network->forward(x), logits, 1e-12, 1e-12));
    }
    network->train();  // batch statistics; no drop path, so no randomness
    const auto [logits, auxiliary] = textbook();
    const auto output = network->forward_with_auxiliary(x);
    CHECK(torch::allclose(output.logits, logits, 1e-12, 1e-12));
    CHECK(torch::allclose(output.auxiliary_logits, auxiliary, 1e-12, 1e-12));
}

TEST_CASE("drop path perturbs training forward passes but never evaluation") {
    torch::manual_seed(2);
    nn::DartsNetwork network(find_in_zoo("DARTS_V2")->genotype, small_config(4, 3, {3, 8, 8}));
    const auto x = torch::randn({4, 3, 8, 8});
    network->set_drop_path(0.5);
    network->eval();
    CHECK(torch::equal(network->forward(x), network->forward(x)));
    network->train();
    CHECK_FALSE(torch::allclose(network->forward(x), network->forward(x)));
    network->set_drop_path(0.0);
    torch::manual_seed(3);
    const auto first = network->forward(x);
    CHECK(torch::allclose(first, network->forward(x)));  // BN batch statistics: same batch, same output
}

TEST_CASE("network options are validated with actionable messages") {
    const Genotype genotype = find_in_zoo("DARTS_V2")->genotype;
    CHECK_THROWS_WITH(nn::DartsNetwork(genotype, small_config(5, 3, {3, 8, 8})), Contains("even number"));
    CHECK_THROWS_WITH(nn::DartsNetwork(genotype, small_config(4, 0, {3, 8, 8})),
                      Contains("layers: must be between 1 and 1000 (got 0)"));
    CHECK_THROWS_WITH(nn::DartsNetwork(genotype, small_config(1000000, 8, {3, 8, 8})),
                      Contains("init_channels: must be an even number from 2 to 4096"));
    CHECK_THROWS_WITH(nn::parse_input_shape("32x32"), Contains("CHANNELSxHEIGHTxWIDTH"));
    CHECK(nn::parse_input_shape("1x28x28") == std::array<int64_t, 3>{1, 28, 28});
}

TEST_CASE("the network summary lists every cell with its channels and size") {
    const auto summary = nn::network_summary("DARTS_V2", find_in_zoo("DARTS_V2")->genotype,
                                             small_config(16, 8, {1, 28, 28}));
    REQUIRE(summary["cells"].size() == 8);
    CHECK(summary["cells"][2]["type"] == "reduce");  // 8 / 3 = 2
    CHECK(summary["cells"][2]["node_channels"] == 32);
    CHECK(summary["cells"][5]["output_size"].get<std::vector<int64_t>>() == std::vector<int64_t>{7, 7});  // 28 -> 14 -> 7
    CHECK(summary["cells"][7]["output_channels"] == 256);
}

TEST_CASE("the parameter count computed before building a network is the built network's") {
    for (const auto& cell : genotype_zoo()) {
        INFO(cell.name);
        for (auto config : {small_config(4, 3, {3, 32, 32}), small_config(6, 5, {1, 28, 28}),
                            small_config(8, 8, {3, 32, 32}, 100)}) {
            config.auxiliary = config.input_shape[1] == 32;
            const nn::NetworkSize size = nn::network_size(cell.genotype, config);
            nn::DartsNetwork network(cell.genotype, config);
            CHECK(size.parameters == network->parameter_count());
            CHECK(size.auxiliary_parameters == network->auxiliary_parameter_count());
        }
    }
}

TEST_CASE("a network that does not fit in memory is refused before it is built") {
    const Genotype genotype = find_in_zoo("DARTS_V2")->genotype;
    constexpr int64_t gibibyte = int64_t{1} << 30;
    const auto wide = small_config(4096, 20, {3, 32, 32});
    CHECK_THROWS_WITH(nn::require_fits_in_memory(nn::network_size(genotype, wide), wide, 1, 4, true, 8 * gibibyte),
                      Contains("init_channels: 4096 channels and 20 cells make a network of") &&
                          Contains("8.0 GiB available"));
    // The paper's evaluation network (3.3 M parameters) at its batch of 96:
    // ~8.8 GB of kept maps, as the DARTS code's training takes about 10 GB
    // of a 12 GB GPU.
    const auto paper = small_config(36, 20, {3, 32, 32});
    const nn::NetworkSize size = nn::network_size(genotype, paper);
    CHECK_NOTHROW(nn::require_fits_in_memory(size, paper, 96, 4, true, 12 * gibibyte));
    CHECK_THROWS_WITH(nn::require_fits_in_memory(size, paper, 96, 4, true, 6 * gibibyte),
                      Contains("batch_size: batches of 96 need about"));
    CHECK_THROWS_WITH(nn::require_fits_in_memory(size, paper, 1000000, 4, true, 8 * gibibyte),
                      Contains("batch_size: batches of 1000000 need about"));
}

TEST_CASE("an observer sees each ReLU of the DARTS code's network once and every layer's output, computing the same") {
    // A state read by several edges is rectified once by cellscape but once
    // per edge by the DARTS code, whose per-operation ReLU modules NASWOT's
    // reference code hooks: the observer must see it per edge.
    torch::manual_seed(2);
    const torch::Tensor images = torch::randn({3, 3, 12, 12}, torch::kFloat64);
    for (const auto& cell : genotype_zoo()) {
        INFO(cell.name);
        nn::DartsNetwork network(cell.genotype, small_config(4, 4, {3, 12, 12}));
        network->to(torch::kFloat64);
        const LayerCounts expected = expected_layers(cell.genotype, 4);
        for (const bool training : {true, false}) {
            INFO("training " << training);
            network->train(training);
            const torch::Tensor plain = network->forward(images);
            CountingObserver observer;
            torch::Tensor observed;
            {
                const nn::ForwardObserverGuard guard(observer);
                observed = network->forward(images);
            }
            CHECK(observer.seen.rectifiers == expected.rectifiers);
            CHECK(observer.seen.layers == expected.layers);
            // Without shared ReLUs and folded BatchNorm, the same function in
            // float64: rounding differences only (~1e-15 relative per operation).
            CHECK(torch::allclose(observed, plain, 1e-10, 1e-12));
        }
    }
    CountingObserver outside;
    { const nn::ForwardObserverGuard guard(outside); }
    nn::DartsNetwork network(genotype_zoo().front().genotype, small_config(4, 3, {3, 12, 12}));
    network->forward(torch::randn({2, 3, 12, 12}));
    CHECK(outside.seen.rectifiers == 0);  // the guard is gone: nothing observed
}
