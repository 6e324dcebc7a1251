// Training: learning at all, checkpoints that restore exactly, resume
// equivalence (bitwise on CPU), the NaN guard.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include <torch/torch.h>

#include "cellscape/cells/zoo.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/nn/network.hpp"
#include "support/small_network.hpp"
#include "support/temporary_directory.hpp"
#include "support/toy_dataset.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"

namespace fs = std::filesystem;
using namespace cellscape;
using Catch::Matchers::Contains;
using testing::TemporaryDirectory;
using testing::write_toy_dataset;

namespace {

TrainingRequest toy_request(const std::filesystem::path& data, const std::filesystem::path& out, int64_t epochs) {
    TrainingRequest request;
    request.cell = *find_in_zoo("DARTS_V2");
    request.network.init_channels = 4;
    request.network.layers = 3;
    request.training.dataset = "h5:" + data.string();
    request.training.epochs = epochs;
    request.training.batch_size = 16;
    request.training.learning_rate = 0.05;
    request.training.seed = 3;
    request.training.augmentation = {1, true, 2};  // exercise the random streams that resume must reproduce
    request.training.drop_path = 0.2;
    request.training.checkpoint_epochs = {1};
    request.out_dir = out;
    request.command = "test";
    set_threads(1);  // the runs a resumed one is compared with must use as many threads as it
    return request;
}

// The training steps a run reported, by their number in the whole run.
struct StepRecorder : ProgressSink {
    std::set<int64_t> steps;
    void update(const ProgressUpdate& update) override {
        if (update.task.substr(0, 6) == "train ") steps.insert(update.done);
    }
    void note(std::string_view) override {}
};

// Same names with bitwise equal tensors, in any order.
bool same_tensors(const NamedTensors& a, const NamedTensors& b) {
    if (a.size() != b.size()) return false;
    std::map<std::string, torch::Tensor> by_name(b.begin(), b.end());
    for (const auto& [name, tensor] : a) {
        const auto found = by_name.find(name);
        if (found == by_name.end() || !torch::equal(tensor, found->second)) return false;
    }
    return true;
}

}  // namespace

TEST_CASE("a small network overfits a fixed batch to near-zero loss") {
    torch::manual_seed(0);
    nn::DartsNetwork network(find_in_zoo("DARTS_V2")->genotype, testing::small_config(4, 3, {1, 8, 8}, 4));
    const auto images = torch::randn({16, 1, 8, 8});
    const auto labels = torch::randint(0, 4, {16}, torch::kInt64);  // random labels: only memorization helps
    torch::optim::SGD optimizer(network->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
    double loss_value = 0;
    for (int step = 0; step < 300; ++step) {
        optimizer.zero_grad();
        auto loss = torch::nn::functional::cross_entropy(network->forward(images), labels);
        loss.backward();
        optimizer.step();
        loss_value = loss.item<double>();
    }
    CHECK(loss_value < 0.05);
}

TEST_CASE("training learns, writes its checkpoints and records its history") {
    const TemporaryDirectory dir;
    const auto summary = train_network(toy_request(write_toy_dataset(dir), dir / "run", 3));
    CHECK(summary.epochs == 3);
    CHECK(summary.checkpoints == std::vector<std::filesystem::path>{dir / "run/epoch-0001.h5", dir / "run/epoch-0003.h5"});
    const TrainingState state = read_checkpoint(dir / "run/epoch-0003.h5");
    CHECK(state.complete());
    CHECK(state.history.step_loss.size() == 12);  // 3 epochs x 64/16 steps
    CHECK(state.history.epoch_test_loss.size() == 3);
    CHECK(state.history.epoch_train_loss.back() < state.history.step_loss.front());
    // Cosine annealing per epoch: lr_e = 0.05 (1 + cos(pi e / 3)) / 2; rounding only, so 1e-12 relative.
    const std::vector<double> expected_rates{0.05, 0.05 * 0.75, 0.05 * 0.25};
    for (std::size_t e = 0; e < 3; ++e)
        CHECK(state.history.epoch_learning_rate[e] == Approx(expected_rates[e]).epsilon(1e-12));
    CHECK(state.network.classes == 4);
    CHECK(state.network.input_shape == std::array<int64_t, 3>{1, 8, 8});
    CHECK(std::filesystem::exists(dir / "run/latest.h5"));
}

TEST_CASE("epoch 0 among the checkpoint epochs keeps the initial weights, which the seed alone determines") {
    const TemporaryDirectory dir;
    TrainingRequest request = toy_request(write_toy_dataset(dir), dir / "run", 1);
    request.training.checkpoint_epochs = {0};
    const auto summary = train_network(request);
    CHECK(summary.checkpoints ==
          std::vector<std::filesystem::path>{dir / "run/epoch-0000.h5", dir / "run/epoch-0001.h5"});
    const TrainingState initial = read_checkpoint(dir / "run/epoch-0000.h5");
    CHECK(initial.epoch == 0);
    CHECK(initial.history.step_loss.empty());
    CHECK(initial.momentum.empty());
    // Independently: the network the seed makes before any step (the trainer seeds, then builds).
    torch::manual_seed(request.training.seed);
    nn::DartsNetwork fresh(initial.genotype, initial.network);
    CHECK(same_tensors(named_parameters_of(*fresh), initial.parameters));
    CHECK(same_tensors(named_buffers_of(*fresh), initial.buffers));
    // And not the trained ones; yet the trained checkpoint rebuilds them (a study's proxies rely on it).
    const TrainingState trained = read_checkpoint(dir / "run/epoch-0001.h5");
    CHECK_FALSE(same_tensors(trained.parameters, initial.parameters));
    nn::DartsNetwork rebuilt = initial_network(trained);
    CHECK(same_tensors(named_parameters_of(*rebuilt), initial.parameters));
}

TEST_CASE("a checkpoint restores identical tensors, configuration and history") {
    const TemporaryDirectory dir;
    train_network(toy_request(write_toy_dataset(dir), dir / "run", 1));
    const TrainingState state = read_checkpoint(dir / "run/epoch-0001.h5");
    write_checkpoint(dir / "copy.h5", state, "copy");
    const TrainingState copy = read_checkpoint(dir / "copy.h5");
    CHECK(same_tensors(copy.parameters, state.parameters));
    CHECK(same_tensors(copy.buffers, state.buffers));
    CHECK(same_tensors(copy.momentum, state.momentum));
    CHECK(copy.genotype == state.genotype);
    CHECK(copy.training.to_json() == state.training.to_json());
    CHECK(copy.network.to_json() == state.network.to_json());
    CHECK(copy.history.step_loss == state.history.step_loss);

    auto network = network_from_checkpoint(copy, "copy.h5");
    CHECK(same_tensors(named_parameters_of(*network), state.parameters));
    CHECK(state.momentum.size() == state.parameters.size());
}

TEST_CASE("resuming from epoch 1 reaches bitwise the same weights as the uninterrupted run") {
    // Tolerance: none. Each epoch reseeds its order, augmentation and drop-path
    // streams, and the checkpoint holds weights, buffers and momentum exactly.
    const TemporaryDirectory dir;
    const auto data = write_toy_dataset(dir);
    StepRecorder straight_steps, resumed_steps;
    auto straight = toy_request(data, dir / "straight", 3);
    straight.progress = &straight_steps;
    train_network(straight);
    auto resumed = toy_request(data, dir / "resumed", 3);
    resumed.resume = dir / "straight/epoch-0001.h5";
    resumed.progress = &resumed_steps;
    train_network(resumed);
    const TrainingState a = read_checkpoint(dir / "straight/epoch-0003.h5");
    const TrainingState b = read_checkpoint(dir / "resumed/epoch-0003.h5");
    CHECK(same_tensors(a.parameters, b.parameters));
    CHECK(same_tensors(a.buffers, b.buffers));
    CHECK(a.history.step_loss == b.history.step_loss);
    // The finished epoch was not trained again: 64 images in batches of 16
    // are 4 steps per epoch, and the resumed run took only epochs 2 and 3's
    // 8 (a run that silently retrained from scratch, each epoch reseeded,
    // would end with the same weights but take all 12). Epoch 1's record is
    // the checkpoint's, its measured seconds included.
    CHECK(straight_steps.steps == std::set<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
    CHECK(resumed_steps.steps == std::set<int64_t>{5, 6, 7, 8, 9, 10, 11, 12});
    CHECK(b.history.epoch_seconds.front() == a.history.epoch_seconds.front());
}

TEST_CASE("two runs with one seed are identical, and another seed differs") {
    const TemporaryDirectory dir;
    const auto data = write_toy_dataset(dir);
    train_network(toy_request(data, dir / "a", 1));
    train_network(toy_request(data, dir / "b", 1));
    auto other = toy_request(data, dir / "c", 1);
    other.training.seed = 4;
    train_network(other);
    const auto a = read_checkpoint(dir / "a/epoch-0001.h5");
    CHECK(same_tensors(a.parameters, read_checkpoint(dir / "b/epoch-0001.h5").parameters));
    CHECK_FALSE(same_tensors(a.parameters, read_checkpoint(dir / "c/epoch-0001.h5").parameters));
}

// The library seeds LibTorch's default generator for a run and for a
// rebuilt initial network, inside a scope that gives the caller's state
// back: the host's next draws are the ones it would have made anyway. The
// reference is the host's own stream, drawn with no cellscape call between.
TEST_CASE("training and rebuilding a network leave the caller's random stream where it was") {
    const TemporaryDirectory dir;
    const auto data = write_toy_dataset(dir);
    torch::manual_seed(1234);
    const torch::Tensor expected = torch::rand({8}, torch::kFloat64);
    torch::manual_seed(1234);
    train_network(toy_request(data, dir / "run", 1));
    const nn::DartsNetwork rebuilt = seeded_network(find_in_zoo("DARTS_V2")->genotype, nn::NetworkConfig{}, 7);
    // Exact: the same generator state gives the same doubles.
    CHECK(torch::equal(torch::rand({8}, torch::kFloat64), expected));
    // And the state really was seeded in between: the run's weights are the seed's, not the host's stream.
    const TrainingState initial = read_checkpoint(dir / "run/epoch-0001.h5");
    CHECK(same_tensors(named_parameters_of(*initial_network(initial)),
                       named_parameters_of(*seeded_network(initial.genotype, initial.network, 3))));
}

TEST_CASE("a NaN loss stops training with a clear message and keeps the last good checkpoint") {
    // Data cannot carry a NaN in (a NaN image is refused when read), so the
    // loss is made NaN by divergence: a learning rate of 1e38 sends the
    // first step's update (clipped to norm 5) past float32's largest
    // number, so the weights hold infinities and the second step's loss is
    // NaN, in every run alike.
    const TemporaryDirectory dir;
    const auto data = write_toy_dataset(dir);
    auto request = toy_request(data, dir / "run", 2);
    request.training.learning_rate = 1e38;
    request.training.gradient_clip = 5;
    request.training.checkpoint_epochs = {0};
    CHECK_THROWS_WITH(train_network(request), Contains("nan in epoch 1, step 2") &&
                                                  Contains("The last good state is") && Contains("epoch-0000.h5 (epoch 0, the initial weights)"));
    const auto initial = read_checkpoint(dir / "run/epoch-0000.h5");
    CHECK(initial.epoch == 0);

    auto fresh = toy_request(data, dir / "fresh", 1);
    fresh.training.learning_rate = 1e38;
    fresh.training.gradient_clip = 5;
    CHECK_THROWS_WITH(train_network(fresh), Contains("No checkpoint had been written yet"));
}

TEST_CASE("the disk check's estimate bounds each checkpoint file it will write, within 2x") {
    // The estimate must never be below a file (the check would pass a run
    // that then fills the disk) and at most 2x above it (a 40x estimate
    // refused runs that fitted). Measured on the files a run writes.
    const TemporaryDirectory dir;
    const auto data = write_toy_dataset(dir);
    for (const int64_t channels : {4, 16}) {
        auto request = toy_request(data, dir / fmt::format("run-{}", channels), 2);
        request.network.init_channels = channels;
        train_network(request);
        const fs::path file = dir / fmt::format("run-{}", channels) / "epoch-0002.h5";
        const TrainingState state = read_checkpoint(file);
        const int64_t steps = static_cast<int64_t>(state.history.step_loss.size());
        const double estimate = checkpoint_file_bytes(state.parameters, state.buffers, steps, 2);
        const auto actual = static_cast<double>(fs::file_size(file));
        INFO(channels << " channels: estimate " << estimate << " bytes, file " << actual);
        CHECK(estimate >= actual);
        CHECK(estimate <= 2 * actual);
    }
}

TEST_CASE("epoch 0 added to a finished run's checkpoint epochs writes the initial weights as a fresh run does") {
    const TemporaryDirectory dir;
    const auto data = write_toy_dataset(dir);
    train_network(toy_request(data, dir / "later", 1));
    CHECK_FALSE(fs::exists(dir / "later/epoch-0000.h5"));
    auto again = toy_request(data, dir / "later", 1);
    again.training.checkpoint_epochs = {0, 1};
    train_network(again);
    auto fresh = toy_request(data, dir / "fresh", 1);
    fresh.training.checkpoint_epochs = {0, 1};
    train_network(fresh);
    const TrainingState rebuilt = read_checkpoint(dir / "later/epoch-0000.h5");
    const TrainingState first = read_checkpoint(dir / "fresh/epoch-0000.h5");
    CHECK(rebuilt.epoch == 0);
    CHECK(rebuilt.history.step_loss.empty());
    CHECK(same_tensors(rebuilt.parameters, first.parameters));
    CHECK(same_tensors(rebuilt.buffers, first.buffers));
    CHECK(rebuilt.momentum.size() == first.momentum.size());
    // The finished run itself is untouched.
    CHECK(same_tensors(read_checkpoint(dir / "later/epoch-0001.h5").parameters,
                       read_checkpoint(dir / "fresh/epoch-0001.h5").parameters));
}

TEST_CASE("rerunning a training request continues its run, and other settings are refused, not mixed in") {
    const TemporaryDirectory dir;
    const auto data = write_toy_dataset(dir);
    train_network(toy_request(data, dir / "straight", 2));
    train_network(toy_request(data, dir / "run", 2));
    std::filesystem::copy_file(dir / "run/epoch-0001.h5", dir / "run/latest.h5",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::remove(dir / "run/epoch-0002.h5");

    auto other = toy_request(data, dir / "run", 2);
    other.training.learning_rate = 0.1;
    CHECK_THROWS_WITH(train_network(other), Contains("holds an unfinished training run of DARTS_V2 with other settings "
                                                     "(learning_rate was 0.05, this run now says 0.1)"));
    const TrainingSummary continued = train_network(toy_request(data, dir / "run", 2));
    CHECK(continued.epochs == 2);
    CHECK(same_tensors(read_checkpoint(dir / "run/epoch-0002.h5").parameters,
                       read_checkpoint(dir / "straight/epoch-0002.h5").parameters));
    // Finished: a rerun changes nothing.
    const auto written = std::filesystem::last_write_time(dir / "run/epoch-0002.h5");
    CHECK(train_network(toy_request(data, dir / "run", 2)).epochs == 2);
    CHECK(std::filesystem::last_write_time(dir / "run/epoch-0002.h5") == written);
    CHECK_THROWS_WITH(read_checkpoint(data), Contains("not a cellscape file"));
}

TEST_CASE("a checkpoint whose weights are NaN, edited or not floating point is refused by name") {
    const TemporaryDirectory dir;
    train_network(toy_request(write_toy_dataset(dir), dir / "run", 1));
    const auto path = dir / "run/epoch-0001.h5";
    const TrainingState state = read_checkpoint(path);
    const std::string first = state.parameters.front().first;
    auto refusal = [&](const TrainingState& changed) {
        write_checkpoint(dir / "changed.h5", changed, "test");
        const TrainingState read_back = read_checkpoint(dir / "changed.h5");
        try {
            network_from_checkpoint(read_back, "changed.h5");
        } catch (const Error& error) {
            return std::string(error.what());
        }
        return std::string("accepted");
    };
    CHECK(refusal(state) == "accepted");  // rewritten unchanged (hashed in name order), it is the same checkpoint

    TrainingState nan = state;
    nan.parameters.front().second = nan.parameters.front().second.clone().fill_(NAN);
    CHECK_THAT(refusal(nan), Contains("'" + first + "' holds NaN or infinite values"));

    TrainingState integers = state;
    integers.parameters.front().second = integers.parameters.front().second.to(torch::kInt32);
    CHECK_THAT(refusal(integers), Contains("'" + first + "' is stored as Int"));

    // Edited in place after it was written: the recorded hash no longer matches.
    {
        Hdf5File file(path, Hdf5File::Mode::read_write);
        file.write("parameters/" + first, state.parameters.front().second * 1.001);
    }
    CHECK_THROWS_WITH(network_from_checkpoint(read_checkpoint(path), "epoch-0001.h5"),
                      Contains("do not match the weights_hash"));
    TrainingRequest resume = toy_request(dir / "toy.h5", dir / "run", 2);
    resume.resume = path;
    CHECK_THROWS_WITH(train_network(resume), Contains("do not match the weights_hash"));
}
