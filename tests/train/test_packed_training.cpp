// Packed replicates (train/packed_trainer.hpp, nn/packed_layout.hpp): a
// packed network computes each member's function, a packed step takes each
// member's own step, and a packed run writes each member's run.
//
// References: each member's own network (pack = 1, built by the same
// seeded_network) and train_network's own run of each seed. Tolerances:
// float64 tests allow 1e-12 relative on a forward pass and 1e-9 after an
// epoch of steps: grouped kernels add each member's products in another
// order than a member's own kernels (rounding 1e-16 per value, grown by a
// few hundred operations and amplified through SGD's 8 updates); a layout
// or grouping mistake mixes members' channels and is off by O(1). float32
// runs allow 1e-4 relative on each step's loss over two epochs, augmented,
// the second with drop path: float32 rounding (6e-8 per value) carried
// through a network's 20 layers and 4-8 updates (measured: at most 9e-7);
// a member's augmentation drawn from another member's stream changes its
// step losses by 0.09-0.13 from the first epoch, masks not drawn from its
// stream by 0.14-0.59 in the second (measured), a channel mix by more.
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include <torch/torch.h>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/cells/zoo.hpp"
#include "cellscape/nn/network.hpp"
#include "cellscape/nn/packed_layout.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/packed_trainer.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "support/small_network.hpp"
#include "support/temporary_directory.hpp"
#include "support/toy_dataset.hpp"

namespace fs = std::filesystem;
using namespace cellscape;
using Catch::Matchers::Contains;
using testing::TemporaryDirectory;

namespace {

// Every operation of the search space, both cell types, so every packed
// module (separable, dilated, 7x1-1x7, poolings, skips and factorized
// reduces, the zero op) is compared.
Genotype every_operation_genotype() {
    return parse_genotype_text(
               "Genotype(normal=[('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_5x5', 0), ('skip_connect', 2), "
               "('avg_pool_3x3', 1), ('conv_7x1_1x7', 3), ('max_pool_3x3', 0), ('none', 4)], normal_concat=[2, 3, 4, 5], "
               "reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 0), ('sep_conv_3x3', 2), "
               "('avg_pool_3x3', 1), ('sep_conv_7x7', 3), ('skip_connect', 2), ('dil_conv_3x3', 0)], "
               "reduce_concat=[2, 3, 4, 5])")
        .genotype;
}

double max_relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item<double>();
}

struct Members {
    std::vector<nn::DartsNetwork> networks;
    nn::DartsNetwork packed{nullptr};
};

// K member networks of distinct seeds in float64, and the packed network of them.
Members packed_members(const Genotype& genotype, const nn::NetworkConfig& config, int64_t pack) {
    Members members;
    std::vector<NamedTensors> parameters, buffers;
    for (int64_t k = 0; k < pack; ++k) {
        members.networks.push_back(seeded_network(genotype, config, 10 + static_cast<uint64_t>(k)));
        members.networks.back()->to(torch::kFloat64);
        parameters.push_back(named_parameters_of(*members.networks.back()));
        buffers.push_back(named_buffers_of(*members.networks.back()));
    }
    members.packed = nn::DartsNetwork(genotype, config, pack);
    members.packed->to(torch::kFloat64);
    load_tensors(pack_tensors(parameters), *members.packed, false, "test");
    load_tensors(pack_tensors(buffers), *members.packed, true, "test");
    return members;
}

}  // namespace

TEST_CASE("a packed network's logits are each member's own, in training and evaluation") {
    // Tolerance 1e-12 relative (header). Training mode uses batch statistics
    // and the auxiliary head; evaluation folds BatchNorm and shares ReLUs.
    const int64_t pack = 3, batch = 4;
    auto config = testing::small_config(4, 3, {3, 32, 32}, 5);
    config.auxiliary = true;
    Members m = packed_members(every_operation_genotype(), config, pack);
    torch::manual_seed(5);
    std::vector<torch::Tensor> images;
    for (int64_t k = 0; k < pack; ++k) images.push_back(torch::randn({batch, 3, 32, 32}, torch::kFloat64));
    const torch::Tensor packed_images = torch::cat(images, 1);
    for (const bool training : {true, false}) {
        m.packed->train(training);
        const auto packed = m.packed->forward_with_auxiliary(packed_images);
        REQUIRE(packed.logits.sizes() == torch::IntArrayRef{batch, pack * 5});
        for (int64_t k = 0; k < pack; ++k) {
            auto& member = m.networks[static_cast<std::size_t>(k)];
            member->train(training);
            const auto own = member->forward_with_auxiliary(images[static_cast<std::size_t>(k)]);
            INFO("member " << k << (training ? ", training" : ", evaluation"));
            CHECK(max_relative_difference(packed.logits.narrow(1, 5 * k, 5), own.logits) < 1e-12);
            if (training)
                CHECK(max_relative_difference(packed.auxiliary_logits.narrow(1, 5 * k, 5), own.auxiliary_logits) < 1e-12);
        }
    }
}

TEST_CASE("a packed network drops each member's edges with that member's masks") {
    // Each member's network takes its own masks (given, as a packed network's
    // are); the packed network takes them side by side. Tolerance 1e-12.
    const int64_t pack = 2, batch = 6;
    const auto config = testing::small_config(4, 3, {1, 8, 8}, 4);
    Members m = packed_members(every_operation_genotype(), config, pack);
    const int64_t edges = m.packed->drop_path_edges();
    REQUIRE(edges == 3 * 8 - 3);  // every edge but the three stride-1 skips (the reduce cell's skips reduce)
    torch::manual_seed(9);
    std::vector<torch::Tensor> images;
    std::deque<torch::Tensor> packed_masks;
    std::vector<std::deque<torch::Tensor>> own_masks(pack);
    for (int64_t k = 0; k < pack; ++k) images.push_back(torch::randn({batch, 1, 8, 8}, torch::kFloat64));
    for (int64_t e = 0; e < edges; ++e) {
        std::vector<torch::Tensor> columns;
        for (int64_t k = 0; k < pack; ++k) {
            columns.push_back(nn::drop_path_mask(batch, 0.5, torch::kFloat64).view({batch, 1}));
            own_masks[static_cast<std::size_t>(k)].push_back(columns.back());
        }
        packed_masks.push_back(torch::cat(columns, 1));
    }
    m.packed->train();
    m.packed->set_drop_path(0.5);
    m.packed->set_drop_path_masks(packed_masks);
    const torch::Tensor packed = m.packed->forward(torch::cat(images, 1));
    for (int64_t k = 0; k < pack; ++k) {
        auto& member = m.networks[static_cast<std::size_t>(k)];
        member->train();
        member->set_drop_path(0.5);
        member->set_drop_path_masks(own_masks[static_cast<std::size_t>(k)]);
        CHECK(max_relative_difference(packed.narrow(1, 4 * k, 4), member->forward(images[static_cast<std::size_t>(k)])) <
              1e-12);
    }
    // Without masks a packed network refuses to drop paths rather than share one draw.
    m.packed->set_drop_path_masks({});
    CHECK_THROWS(m.packed->forward(torch::cat(images, 1)));
}

TEST_CASE("an epoch of packed steps in float64 ends at each member's own weights to 1e-9") {
    // An epoch of 8 batches, gradient clipping at a norm the members exceed
    // (so each member's own clip is exercised), momentum and weight decay,
    // the auxiliary head. Reference: training_step on each member's network
    // with its own optimizer. Tolerance 1e-9 relative per tensor (header).
    const int64_t pack = 3, batch = 8, steps = 8;
    auto config = testing::small_config(4, 3, {3, 32, 32}, 5);
    config.auxiliary = true;
    Members m = packed_members(every_operation_genotype(), config, pack);
    TrainingConfig training;
    training.gradient_clip = 0.5;
    training.learning_rate = 0.05;
    auto sgd = [&](nn::DartsNetwork& network) {
        return torch::optim::SGD(network->parameters(), torch::optim::SGDOptions(training.learning_rate)
                                                            .momentum(training.momentum)
                                                            .weight_decay(training.weight_decay));
    };
    torch::optim::SGD packed_optimizer = sgd(m.packed);
    std::vector<torch::optim::SGD> optimizers;
    for (auto& network : m.networks) optimizers.push_back(sgd(network));
    m.packed->train();
    torch::manual_seed(21);
    for (int64_t step = 0; step < steps; ++step) {
        std::vector<torch::Tensor> images, labels;
        for (int64_t k = 0; k < pack; ++k) {
            images.push_back(torch::randn({batch, 3, 32, 32}, torch::kFloat64));
            labels.push_back(torch::randint(0, 5, {batch}, torch::kInt64));
        }
        const auto results =
            packed_training_step(m.packed, packed_optimizer, torch::cat(images, 1), torch::stack(labels, 1), training);
        for (int64_t k = 0; k < pack; ++k) {
            auto& network = m.networks[static_cast<std::size_t>(k)];
            network->train();
            const auto own = training_step(network, optimizers[static_cast<std::size_t>(k)],
                                           images[static_cast<std::size_t>(k)], labels[static_cast<std::size_t>(k)],
                                           training);
            CHECK(results[static_cast<std::size_t>(k)].loss == Approx(own.loss).epsilon(1e-9));
            CHECK(results[static_cast<std::size_t>(k)].accuracy == own.accuracy);
            if (step == 0) {  // the clip was active: the member's gradient left at norm 0.5 (1e-6 below)
                std::vector<torch::Tensor> norms;
                for (const auto& parameter : network->parameters()) norms.push_back(parameter.grad().norm());
                CHECK(torch::stack(norms).norm().item<double>() == Approx(0.5).epsilon(1e-5));
            }
        }
    }
    for (int64_t k = 0; k < pack; ++k) {
        const NamedTensors own = named_parameters_of(*m.networks[static_cast<std::size_t>(k)]);
        const NamedTensors from_pack = member_tensors(named_parameters_of(*m.packed), k, pack);
        REQUIRE(own.size() == from_pack.size());
        for (std::size_t i = 0; i < own.size(); ++i) {
            INFO("member " << k << ", " << own[i].first);
            CHECK(max_relative_difference(from_pack[i].second, own[i].second) < 1e-9);
        }
        const NamedTensors own_buffers = named_buffers_of(*m.networks[static_cast<std::size_t>(k)]);
        const NamedTensors packed_buffers = member_tensors(named_buffers_of(*m.packed), k, pack);
        for (std::size_t i = 0; i < own_buffers.size(); ++i)
            if (own_buffers[i].second.is_floating_point())
                CHECK(max_relative_difference(packed_buffers[i].second, own_buffers[i].second) < 1e-9);
    }
}

TEST_CASE("packing and unpacking tensors are inverse, and members that do not match are refused") {
    NamedTensors a = {{"w", torch::arange(6.0).view({2, 3})}, {"n", torch::tensor(4)}};
    NamedTensors b = {{"w", torch::arange(6.0, 12.0).view({2, 3})}, {"n", torch::tensor(4)}};
    const NamedTensors packed = pack_tensors({a, b});
    CHECK(packed[0].second.sizes() == torch::IntArrayRef{4, 3});
    CHECK(torch::equal(member_tensors(packed, 1, 2)[0].second, b[0].second));
    CHECK(torch::equal(member_tensors(packed, 0, 2)[1].second, a[1].second));
    NamedTensors c = {{"w", torch::zeros({2, 3})}, {"n", torch::tensor(5)}};
    CHECK_THROWS_WITH(pack_tensors({a, c}), Contains("share n"));
    NamedTensors d = {{"v", torch::zeros({2, 3})}, {"n", torch::tensor(4)}};
    CHECK_THROWS_WITH(pack_tensors({a, d}), Contains("same tensors"));
}

namespace {

TrainingRequest toy_request(const fs::path& data, const fs::path& out, uint64_t seed) {
    TrainingRequest request;
    request.cell = *find_in_zoo("DARTS_V2");
    request.network.init_channels = 4;
    request.network.layers = 3;
    request.training.dataset = "h5:" + data.string();
    request.training.epochs = 2;
    request.training.batch_size = 16;
    request.training.learning_rate = 0.05;
    request.training.seed = seed;
    request.training.augmentation = {1, true, 2};  // each member's augmentation stream
    request.training.drop_path = 0.2;              // each member's masks (epoch 2: p = 0.1)
    request.training.checkpoint_epochs = {0, 1};
    request.out_dir = out;
    request.command = "test";
    set_threads(1);
    return request;
}

PackedTrainingRequest toy_pack(const fs::path& data, const fs::path& out, std::vector<uint64_t> seeds) {
    const TrainingRequest base = toy_request(data, out, 0);
    PackedTrainingRequest request;
    request.cell = base.cell;
    request.network = base.network;
    request.training = base.training;
    for (uint64_t seed : seeds) request.out_dirs.push_back(out / fmt::format("seed-{}", seed));
    request.seeds = std::move(seeds);
    request.command = "test";
    return request;
}

// Raises SIGINT once the run has taken `after` steps.
struct InterruptAfter : ProgressSink {
    int64_t after;
    explicit InterruptAfter(int64_t steps) : after(steps) {}
    void update(const ProgressUpdate& update) override {
        if (update.task.substr(0, 6) == "train " && update.done == after) std::raise(SIGINT);
    }
    void note(std::string_view) override {}
};

}  // namespace

TEST_CASE("a packed run writes each seed's run as train_network writes it, to float32's rounding") {
    // Reference: train_network on each seed alone. Tolerances in the header.
    const TemporaryDirectory dir;
    const auto data = testing::write_toy_dataset(dir);
    const auto summaries = train_packed(toy_pack(data, dir / "pack", {3, 4}));
    REQUIRE(summaries.size() == 2);
    for (const uint64_t seed : {3, 4}) {
        const fs::path alone = dir / fmt::format("alone-{}", seed);
        const TrainingSummary alone_summary = train_network(toy_request(data, alone, seed));
        const fs::path packed = dir / "pack" / fmt::format("seed-{}", seed);
        INFO("seed " << seed);
        // The initial weights: the member's own seeded network, bitwise.
        const TrainingState initial_alone = read_checkpoint(alone / "epoch-0000.h5");
        const TrainingState initial_packed = read_checkpoint(packed / "epoch-0000.h5");
        CHECK(initial_packed.weights_hash == initial_alone.weights_hash);
        const TrainingState a = read_checkpoint(alone / "epoch-0002.h5");
        const TrainingState p = read_checkpoint(packed / "epoch-0002.h5");
        CHECK(p.training.seed == seed);
        CHECK(p.train_indices_hash == a.train_indices_hash);
        CHECK_THAT(p.pack, Contains("seeds 3,4 of DARTS_V2") && Contains(fmt::format("member {} of 2", seed - 2)));
        CHECK(a.pack.empty());
        REQUIRE(p.history.step_loss.size() == 8);  // 64 images in batches of 16, 2 epochs
        REQUIRE(a.history.step_loss.size() == 8);
        for (std::size_t step = 0; step < 8; ++step) {
            INFO("step " << step);
            CHECK(p.history.step_loss[step] == Approx(a.history.step_loss[step]).epsilon(1e-4));
        }
        CHECK(p.history.epoch_test_loss.back() == Approx(a.history.epoch_test_loss.back()).epsilon(1e-4));
        REQUIRE(p.parameters.size() == a.parameters.size());
        CHECK(summaries[seed - 3].final_checkpoint == packed / "epoch-0002.h5");
        CHECK(summaries[seed - 3].parameters == alone_summary.parameters);
        CHECK(summaries[seed - 3].checkpoints.size() == alone_summary.checkpoints.size());
    }
}

TEST_CASE("an interrupted packed run resumes each member to bitwise the uninterrupted pack's weights") {
    // Tolerance: none. A rerun rebuilds the pack from the members'
    // latest.h5 (weights, momentum, each stream's state) and takes the steps
    // left, in the same order with the same draws.
    const TemporaryDirectory dir;
    const auto data = testing::write_toy_dataset(dir);
    train_packed(toy_pack(data, dir / "straight", {3, 4}));
    auto interrupted = toy_pack(data, dir / "interrupted", {3, 4});
    InterruptAfter sink(6);  // inside epoch 2
    interrupted.progress = &sink;
    {
        InterruptGuard guard;
        CHECK_THROWS_AS(train_packed(interrupted), Interrupted);
    }
    CHECK(read_checkpoint(dir / "interrupted/seed-4/latest.h5").step_in_epoch == 2);
    interrupted.progress = nullptr;
    train_packed(interrupted);
    for (const char* seed : {"seed-3", "seed-4"}) {
        const TrainingState a = read_checkpoint(dir / "straight" / seed / "epoch-0002.h5");
        const TrainingState b = read_checkpoint(dir / "interrupted" / seed / "epoch-0002.h5");
        CHECK(a.weights_hash == b.weights_hash);
        CHECK(a.history.step_loss == b.history.step_loss);
    }
}

TEST_CASE("a pack leaves a finished member as it is and trains the rest") {
    const TemporaryDirectory dir;
    const auto data = testing::write_toy_dataset(dir);
    auto request = toy_pack(data, dir / "pack", {3, 4, 5});
    train_network(toy_request(data, request.out_dirs[0], 3));  // seed 3 finished alone
    const auto before = fs::last_write_time(request.out_dirs[0] / "epoch-0002.h5");
    const auto summaries = train_packed(request);
    CHECK(fs::last_write_time(request.out_dirs[0] / "epoch-0002.h5") == before);
    CHECK(summaries[0].checkpoints.empty());
    CHECK(read_checkpoint(request.out_dirs[0] / "latest.h5").pack.empty());
    CHECK_THAT(read_checkpoint(request.out_dirs[2] / "latest.h5").pack, Contains("seeds 4,5 of DARTS_V2"));
}

TEST_CASE("a pack refuses a seed given twice, and a directory shared by two seeds") {
    const TemporaryDirectory dir;
    const auto data = testing::write_toy_dataset(dir);
    auto twice = toy_pack(data, dir / "pack", {3, 3});
    twice.out_dirs[1] = dir / "other";
    CHECK_THROWS_WITH(train_packed(twice), Contains("seed 3 is given twice"));
    auto shared = toy_pack(data, dir / "pack", {3, 4});
    shared.out_dirs[1] = shared.out_dirs[0];
    CHECK_THROWS_WITH(train_packed(shared), Contains("given for two seeds"));
    CHECK_FALSE(fs::exists(dir / "pack"));
}
