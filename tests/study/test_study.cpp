// A study end to end on a toy dataset: what it does on an interrupt, on one
// cell's failure (a LibTorch error included), on bad settings and on a rerun
// with other settings. Interrupts are raised in this process with raise()
// from a progress sink, so they land at a known moment.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>

#include "cellscape/analysis/proxies.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/study/study.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/interrupt.hpp"
#include "support/restore_cuda_float32.hpp"
#include "support/temporary_directory.hpp"
#include "support/toy_dataset.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;
using testing::TemporaryDirectory;

namespace {

// Two cells, one epoch (or more), the top Hessian eigenvalue and the
// gradient variance on a few samples: seconds per run.
StudyConfig toy_study(const std::filesystem::path& data, int64_t epochs = 1) {
    StudyConfig config;
    config.source = "toy.toml";
    config.name = "toy";
    config.cells = {"DARTS_V2", "DARTS_V2:chain"};
    config.network.init_channels = 2;
    config.network.layers = 3;
    config.training.dataset = "h5:" + data.string();
    config.training.epochs = epochs;
    config.training.batch_size = 32;
    config.analysis_epochs = {epochs};
    config.hessian.samples = 16;
    config.hessian.batch_size = 16;
    config.hessian.request.top.tol = 1e-3;
    config.hessian.request.trace = false;
    config.gradient_variance.batches = 2;
    config.gradient_variance.batch_size = 8;
    config.surface.enabled = false;
    return config;
}

// A progress sink that calls `act` once: on the first note containing
// `text`, or (`on_update`) on the first update of a task containing it.
class ActOnProgress : public ProgressSink {
public:
    ActOnProgress(std::string text, std::function<void()> act, bool on_update = false)
        : text_(std::move(text)), act_(std::move(act)), on_update_(on_update) {}
    void update(const ProgressUpdate& update) override {
        if (on_update_) act_once(update.task);
    }
    void note(std::string_view line) override {
        if (!on_update_) act_once(line);
    }

private:
    void act_once(std::string_view text) {
        if (!done_ && text.find(text_) != std::string_view::npos) {
            done_ = true;
            act_();
        }
    }
    std::string text_;
    std::function<void()> act_;
    bool on_update_;
    bool done_ = false;
};

volatile std::sig_atomic_t host_saw = 0;
extern "C" void host_handler(int signal_number) { host_saw = signal_number; }

std::vector<double> column(const std::filesystem::path& summary, const std::string& name) {
    const Hdf5File file(summary, Hdf5File::Mode::read);
    const torch::Tensor values = file.read("replicates/" + name).to(torch::kFloat64).contiguous();
    return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

}  // namespace

TEST_CASE("an interrupt stops a study at its next step, writes no summary, and a rerun finishes it bitwise") {
    set_threads(1);
    const TemporaryDirectory dir;
    const StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    const StudyResult straight = run_study(config, dir / "straight", "test");

    SECTION("between two cells") {
        const InterruptGuard guard;  // the program's: the library only reads the request
        ActOnProgress interrupter("replicate 2/2", [] { std::raise(SIGTERM); });
        CHECK_THROWS_AS(run_study(config, dir / "interrupted", "test", {}, &interrupter), Interrupted);
        CHECK(std::filesystem::exists(dir / "interrupted/DARTS_V2/hessian-epoch-0001.h5"));  // the first cell is done
        CHECK_FALSE(std::filesystem::exists(dir / "interrupted/DARTS_V2-chain-normal/train"));
    }
    SECTION("in a Hessian's Lanczos iterations") {
        const InterruptGuard guard;  // the program's: the library only reads the request
        ActOnProgress interrupter("top eigenvalues", [] { std::raise(SIGTERM); }, true);
        CHECK_THROWS_AS(run_study(config, dir / "interrupted", "test", {}, &interrupter), Interrupted);
        CHECK(std::filesystem::exists(dir / "interrupted/DARTS_V2/train/epoch-0001.h5"));
        CHECK_FALSE(std::filesystem::exists(dir / "interrupted/DARTS_V2/hessian-epoch-0001.h5"));
    }
    SECTION("inside training") {
        const InterruptGuard guard;  // the program's: the library only reads the request
        ActOnProgress interrupter("train DARTS_V2-chain-normal", [] { std::raise(SIGTERM); }, true);
        CHECK_THROWS_AS(run_study(config, dir / "interrupted", "test", {}, &interrupter), Interrupted);
        const TrainingState saved = read_checkpoint(dir / "interrupted/DARTS_V2-chain-normal/train/latest.h5");
        CHECK_FALSE(saved.complete());  // saved mid-epoch, to resume from
    }
    CHECK_FALSE(std::filesystem::exists(dir / "interrupted/summary.h5"));
    const StudyResult resumed = run_study(config, dir / "interrupted", "test");
    CHECK(resumed.failed_replicates == 0);
    // One thread and the same seeds: the resumed study is the uninterrupted one, bitwise.
    for (const char* name : {"train_loss", "test_loss", "top_eigenvalue", "gradient_variance"})
        CHECK(column(resumed.summary, name) == column(straight.summary, name));
}

TEST_CASE("the library never touches signal handlers: during and after a study SIGINT is the host program's") {
    set_threads(1);
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.cells = {"DARTS_V2"};
    struct sigaction host {}, previous {};
    host.sa_handler = host_handler;
    sigemptyset(&host.sa_mask);
    sigaction(SIGINT, &host, &previous);
    int looked = 0;
    bool host_kept = true;
    const auto look = [&] {
        struct sigaction now {};
        sigaction(SIGINT, nullptr, &now);
        host_kept = host_kept && now.sa_handler == host_handler;
        ++looked;
    };
    // While training and while computing the top eigenvalues.
    ActOnProgress in_training("train DARTS_V2", look, true), in_hessian("top eigenvalues", look, true);
    struct Both : ProgressSink {
        ActOnProgress *first, *second;
        void update(const ProgressUpdate& update) override { first->update(update), second->update(update); }
        void note(std::string_view line) override { first->note(line), second->note(line); }
    } both;
    both.first = &in_training;
    both.second = &in_hessian;
    host_saw = 0;
    run_study(config, dir / "study", "test", {}, &both);
    std::raise(SIGINT);  // after the study: the host program's handler gets it
    sigaction(SIGINT, &previous, nullptr);
    CHECK(looked == 2);
    CHECK(host_kept);
    CHECK(host_saw == SIGINT);
}

TEST_CASE("a LibTorch error in one cell leaves the others finished and the summary written") {
    set_threads(1);
    const TemporaryDirectory dir;
    const StudyConfig config = toy_study(testing::write_toy_dataset(dir), 2);
    // Stop the first cell after its first epoch, ...
    {
        const InterruptGuard guard;
        ActOnProgress interrupter("epoch 1/2", [] { std::raise(SIGTERM); });
        CHECK_THROWS_AS(run_study(config, dir / "study", "test", {}, &interrupter), Interrupted);
    }
    // ... and give its saved optimizer state a momentum buffer of the wrong
    // shape: resuming, LibTorch's SGD step throws a c10::Error.
    const auto latest = dir / "study/DARTS_V2/train/latest.h5";
    TrainingState state = read_checkpoint(latest);
    REQUIRE_FALSE(state.momentum.empty());
    state.momentum.front().second = torch::zeros({3});
    write_checkpoint(latest, state, "test");

    const StudyResult result = run_study(config, dir / "study", "test");
    REQUIRE(result.rows.size() == 2);
    CHECK(result.failed_replicates == 1);
    CHECK_THAT(result.rows[0].status, Contains("failed: LibTorch reported:"));
    CHECK(result.rows[1].status == "ok");
    CHECK(std::filesystem::exists(dir / "study/summary.h5"));
    CHECK(std::isfinite(result.rows[1].top_eigenvalue));
}

// Keeps every note; updates are dropped.
class NoteRecorder : public ProgressSink {
public:
    void update(const ProgressUpdate&) override {}
    void note(std::string_view line) override { notes.emplace_back(line); }
    std::vector<std::string> notes;
};

// PATH set to `value` while it lives, as a cluster node without Graphviz has it.
class ScopedPath {
public:
    explicit ScopedPath(const std::string& value) : saved_(std::getenv("PATH") ? std::getenv("PATH") : "") {
        ::setenv("PATH", value.c_str(), 1);
    }
    ~ScopedPath() { ::setenv("PATH", saved_.c_str(), 1); }
    ScopedPath(const ScopedPath&) = delete;
    ScopedPath& operator=(const ScopedPath&) = delete;

private:
    std::string saved_;
};

TEST_CASE("without Graphviz a study runs and leaves each cell's diagram as DOT source, drawn by a later run") {
    set_threads(1);
    const TemporaryDirectory dir;
    const StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    std::vector<std::string> cells;
    for (const auto& cell : study_cells(config)) cells.push_back(cell_directory_name(cell.name));
    NoteRecorder recorder;
    {
        std::filesystem::create_directories(dir / "empty-bin");
        const ScopedPath no_graphviz((dir / "empty-bin").string());
        const StudyResult result = run_study(config, dir / "study", "test", {}, &recorder);
        CHECK(result.failed_replicates == 0);
    }
    for (const auto& cell : cells) {
        CAPTURE(cell);
        std::ifstream source(dir / "study" / cell / "cell.dot");
        const std::string text((std::istreambuf_iterator<char>(source)), std::istreambuf_iterator<char>());
        CHECK_THAT(text, Contains("digraph"));
        CHECK_FALSE(std::filesystem::exists(dir / "study" / cell / "cell.png"));
        // One note per cell, naming the fix and the command that draws it later.
        const auto said = std::count_if(recorder.notes.begin(), recorder.notes.end(), [&](const std::string& note) {
            return note.find("Graphviz's `dot` is not installed: apt-get install graphviz") != std::string::npos &&
                   note.find("dot -Tpng " + (dir / "study" / cell / "cell.dot").string()) != std::string::npos;
        });
        CHECK(said == 1);
    }
    CHECK(std::filesystem::exists(dir / "study/summary.h5"));

    // With Graphviz back, a rerun reuses the training and analyses and draws the diagrams.
    if (std::system("command -v dot > /dev/null 2>&1") != 0) {
        WARN("Graphviz's dot is not installed here: the rerun's drawing is not checked");
        return;
    }
    NoteRecorder rerun;
    const StudyResult again = run_study(config, dir / "study", "test", {}, &rerun);
    CHECK(again.failed_replicates == 0);
    for (const auto& cell : cells) CHECK(std::filesystem::file_size(dir / "study" / cell / "cell.png") > 0);
    for (const auto& note : rerun.notes) CHECK_THAT(note, !Contains("Graphviz"));
}

TEST_CASE("a failing cell's exception of any kind becomes a sentence, and an interrupt goes on up") {
    auto describe = [](auto throwing) {
        try {
            throwing();
        } catch (...) {
            return describe_failure(std::current_exception());
        }
        return std::string("nothing thrown");
    };
    CHECK(describe([] { throw Error("the loss became nan"); }) == "the loss became nan");
    CHECK_THAT(describe([] { TORCH_CHECK(false, "size mismatch"); }),
               Contains("LibTorch reported: size mismatch"));
    CHECK_THAT(describe([] { throw std::bad_alloc(); }), Contains("out of memory"));
    CHECK_THAT(describe([] { throw std::runtime_error("odd"); }), Contains("unexpected error: odd"));
    CHECK_THROWS_AS(describe([] { throw Interrupted(SIGINT, "stop"); }), Interrupted);
}

TEST_CASE("every analysis setting is checked before any cell is trained, naming the key") {
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.hessian.request.trace = true;
    config.hessian.request.trace_options.max_probes = 1;
    CHECK_THROWS_WITH(run_study(config, dir / "study", "test"),
                      Contains("toy.toml: [analysis.hessian] trace_max_probes: must be at least 2 (got 1)"));
    CHECK_FALSE(std::filesystem::exists(dir / "study/DARTS_V2"));

    config = toy_study(dir / "toy.h5");
    config.surface.enabled = true;
    config.surface.gradient_variance = true;
    config.surface.gv_batches = 1;
    CHECK_THROWS_WITH(validate_study(config), Contains("[analysis.surface] gv_batches: must be at least 2 for a variance (got 1)"));
    config.surface.gv_batches = 0;
    CHECK_THROWS_WITH(validate_study(config), Contains("[analysis.surface] gv_batches: must be at least 2 for a variance (got 0)"));
    config.surface.gradient_variance = false;
    config.surface.x = "-1:1:0";
    CHECK_THROWS_WITH(validate_study(config), Contains("[analysis.surface] x: '-1:1:0'"));
    config = toy_study(dir / "toy.h5");
    config.hessian.request.top.tol = -1;
    CHECK_THROWS_WITH(validate_study(config), Contains("[analysis.hessian] tol: must be between 0 and 1"));
    config = toy_study(dir / "toy.h5");
    config.device = "gpu";
    CHECK_THROWS_WITH(validate_study(config), Contains("toy.toml: device: 'gpu' is not a device"));
    config = toy_study(dir / "toy.h5");
    config.cuda_float32 = "fast";
    CHECK_THROWS_WITH(validate_study(config), Contains("toy.toml: cuda_float32: 'fast' is not one of: ieee, tf32"));
}

// Hidden ([.cuda]): scripts/gpu-check.sh runs it on a GPU machine.
TEST_CASE("on CUDA, a study's training and analyses made in tf32 are not reused under ieee", "[.cuda]") {
    REQUIRE(torch::cuda::is_available());
    const testing::RestoreCudaFloat32 restore;
    set_threads(1);
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.device = "cuda";
    config.cuda_float32 = "tf32";
    set_cuda_float32(CudaFloat32::tf32);  // as the command line does from the config
    CHECK(run_study(config, dir / "study", "test").failed_replicates == 0);
    CHECK(read_checkpoint(dir / "study/DARTS_V2/train/epoch-0001.h5").cuda_float32 == "tf32");
    CHECK(Hdf5File(dir / "study/DARTS_V2/hessian-epoch-0001.h5", Hdf5File::Mode::read)
              .string_attribute("/", "cuda_float32") == "tf32");

    config.cuda_float32 = "ieee";
    set_cuda_float32(CudaFloat32::ieee);
    StudyResult result = run_study(config, dir / "study", "test");
    CHECK(result.failed_replicates == 2);
    CHECK_THAT(result.rows[0].status, Contains("was trained with other settings (cuda_float32 was tf32, the config "
                                               "now says ieee)"));
    // With the training made again under ieee, the tf32 analyses are refused too.
    for (const auto& cell : config.cells) std::filesystem::remove_all(dir / "study" / cell_directory_name(cell) / "train");
    result = run_study(config, dir / "study", "test");
    CHECK(result.failed_replicates == 2);
    CHECK_THAT(result.rows[0].status, Contains("hessian-epoch-0001.h5 was made with other settings") &&
                                          Contains("cuda_float32"));
}

TEST_CASE("a rerun with other settings does not reuse what the old ones made") {
    set_threads(1);
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.cells = {"DARTS_V2"};
    run_study(config, dir / "study", "test");

    StudyConfig changed = config;
    changed.training.learning_rate = 0.05;
    StudyResult result = run_study(changed, dir / "study", "test");
    CHECK(result.failed_replicates == 1);
    CHECK_THAT(result.rows[0].status, Contains("was trained with other settings (learning_rate was 0.025, the config "
                                               "now says 0.05)"));

    changed = config;
    changed.hessian.request.top.count = 2;
    result = run_study(changed, dir / "study", "test");
    CHECK(result.failed_replicates == 1);
    CHECK_THAT(result.rows[0].status, Contains("hessian-epoch-0001.h5 was made with other settings (top_k was 1, the "
                                               "config now says 2)"));

    result = run_study(config, dir / "study", "test");  // the original settings reuse everything
    CHECK(result.failed_replicates == 0);
}

TEST_CASE("convergence speed is the first step whose quarter-epoch mean loss reaches the threshold") {
    // 8 steps per epoch: the window is 2 steps. Means of steps (1,2)=2.5, (2,3)=2.0,
    // (3,4)=1.5, (4,5)=1.1, (5,6)=0.9: the threshold 1.0 is reached at step 6,
    // inside the first epoch: 6/8 = 0.75 epochs.
    const std::vector<double> losses = {3.0, 2.0, 2.0, 1.0, 1.2, 0.6, 0.5, 0.5, 0.4, 0.4};
    CHECK(epochs_to_threshold(losses, 8, 1.0) == 0.75);
    CHECK(epochs_to_threshold(losses, 8, 2.5) == 0.25);  // the first full window
    CHECK(epochs_to_threshold(losses, 8, 0.41) == 1.25);  // step 10 (mean 0.4; step 9: 0.45), in the second epoch
    CHECK(std::isnan(epochs_to_threshold(losses, 8, 0.1)));
    // A single step is one step of one epoch: 4 steps per epoch give a window of 1.
    CHECK(epochs_to_threshold({0.9, 0.5}, 4, 0.6) == 0.5);
    CHECK(std::isnan(epochs_to_threshold({}, 8, 1.0)));
}

TEST_CASE("a cell that never reaches the loss threshold is kept in the convergence ranking, censored") {
    set_threads(1);
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.cells = {"DARTS_V2", "DARTS_V2:chain", "DARTS_V2:widest"};
    config.hessian.enabled = false;
    config.gradient_variance.enabled = false;
    config.loss_threshold = 1e-9;  // no run of one epoch gets there
    const StudyResult result = run_study(config, dir / "study", "test");
    REQUIRE(result.failed_replicates == 0);
    REQUIRE(result.rows.size() == 3);
    for (const StudyRow& row : result.rows) {
        // Censored one step after the last: the toy set's 64 training images
        // in batches of 32 are 2 steps per epoch.
        CHECK(row.censored == 1);
        CHECK(row.epochs_to_threshold == 1.5);
        CHECK(row.train_seconds > 0);
    }
    for (const StudyCellRow& cell : result.cells) CHECK(cell.censored == 1);
    bool ranked = false;
    for (const StudyAssociationRow& row : result.associations)
        if (row.metric == "epochs_to_threshold") {
            CHECK(row.association.cells == 3);  // no cell dropped
            ranked = true;
        }
    CHECK(ranked);
}

TEST_CASE("a study refuses a directory holding the cells a spec gave before variants kept the reduction cell") {
    set_threads(1);
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.hessian.enabled = false;
    config.gradient_variance.enabled = false;
    // What `DARTS_V2:chain` made before cellscape 0.2: both cells rewired, in DARTS_V2-chain/.
    std::filesystem::create_directories(dir / "study" / "DARTS_V2-chain" / "train");
    CHECK_THROWS_WITH(run_study(config, dir / "study", "test"),
                      Contains("holds cells that 'DARTS_V2:chain' gave before cellscape 0.2") &&
                          Contains("Write 'DARTS_V2:chain:cells=both'") && Contains("'cells=normal'"));
    CHECK_FALSE(std::filesystem::exists(dir / "study" / "DARTS_V2" / "train"));  // refused before any work
    // Saying which cells are meant goes on: the old ones, or the new ones beside them.
    config.cells = {"DARTS_V2", "DARTS_V2:chain:cells=normal"};
    CHECK(run_study(config, dir / "study", "test").failed_replicates == 0);
    CHECK(std::filesystem::exists(dir / "study" / "DARTS_V2-chain-normal" / "train" / "epoch-0001.h5"));
}

TEST_CASE("the Hessian and the gradient variance can see BatchNorm as SGD does, and their files say so") {
    set_threads(1);
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.cells = {"DARTS_V2"};
    config.hessian.bn = BatchNormMode::train;
    config.gradient_variance.bn = BatchNormMode::train;
    const StudyResult result = run_study(config, dir / "study", "test");
    REQUIRE(result.failed_replicates == 0);
    for (const char* name : {"hessian-epoch-0001.h5", "gradvar-epoch-0001.h5"}) {
        const Hdf5File file(dir / "study" / "DARTS_V2" / name, Hdf5File::Mode::read);
        CHECK(file.string_attribute("/", "bn_mode") == "train");
        CHECK_THAT(file.string_attribute("/", "settings"), Contains("\"bn\":\"train\""));
        CHECK(file.double_attribute("/", "compute_seconds") > 0);
    }
    CHECK(result.rows[0].analysis_seconds > 0);
    // Made under train-mode BatchNorm, they are not reused for the default (eval).
    config.gradient_variance.bn = BatchNormMode::eval;
    const StudyResult changed = run_study(config, dir / "study", "test");
    CHECK(changed.failed_replicates == 1);
    CHECK_THAT(changed.rows[0].status, Contains("gradvar-epoch-0001.h5 was made with other settings"));
}

TEST_CASE("by_part puts each replicate's curvature and gradient variance by cell into the parts table") {
    // The table is the replicates' files joined by part: it must hold their
    // parts tables value for value, and the parts partition the network, so
    // their trace shares and variances sum to the replicate's own trace and
    // total variance (the same probes and batches; rounding only, 1e-9).
    set_threads(1);
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.seeds = {3, 4};
    config.hessian.request.trace = true;
    config.hessian.request.trace_options.max_probes = 4;
    config.hessian.request.parts = PartLevel::cell;
    config.gradient_variance.parts = PartLevel::cell;
    const StudyResult result = run_study(config, dir / "study", "test");
    REQUIRE(result.failed_replicates == 0);
    REQUIRE(result.rows.size() == 4);
    // stem, cells.0 to cells.2 and the classifier, for each of the 4 replicates.
    REQUIRE(result.parts.size() == 4 * 5);
    for (const StudyRow& row : result.rows) {
        INFO(row.directory);
        double trace = 0, variance = 0;
        std::vector<std::string> names;
        const auto replicate = dir / "study" / row.directory;
        const Hdf5File hessian(replicate / "hessian-epoch-0001.h5", Hdf5File::Mode::read);
        const Hdf5File gradvar(replicate / "gradvar-epoch-0001.h5", Hdf5File::Mode::read);
        const auto top = hessian.read("parts/top_eigenvalue"), shares = hessian.read("parts/trace");
        const auto variances = gradvar.read("parts/variance").reshape({-1});
        std::size_t i = 0;
        for (const StudyPartRow& part : result.parts) {
            if (part.directory != row.directory) continue;
            CHECK(part.seed == row.seed);
            CHECK(part.epoch == 1);
            names.push_back(part.part);
            const double top_i = top[static_cast<int64_t>(i)].item<double>();  // NaN when unconverged
            CHECK((part.top_eigenvalue == top_i || (std::isnan(part.top_eigenvalue) && std::isnan(top_i))));
            CHECK(part.trace == shares[static_cast<int64_t>(i)].item<double>());
            CHECK(part.gradient_variance == variances[static_cast<int64_t>(i)].item<double>());
            CHECK(part.parameters > 0);
            trace += part.trace;
            variance += part.gradient_variance;
            ++i;
        }
        CHECK(names == std::vector<std::string>{"stem", "cells.0", "cells.1", "cells.2", "classifier"});
        CHECK(trace == Approx(row.trace).epsilon(1e-9));
        CHECK(variance == Approx(row.gradient_variance).epsilon(1e-9));
    }
    const Hdf5File summary(dir / "study" / "summary.h5", Hdf5File::Mode::read);
    CHECK(summary.read_strings("parts/part").size() == 20);
    CHECK_THAT(Hdf5File(dir / "study" / "DARTS_V2" / "seed-3" / "hessian-epoch-0001.h5", Hdf5File::Mode::read)
                   .string_attribute("/", "settings"),
               Contains("\"by_part\":\"cell\""));
    // Without by_part, the files are not this study's (their settings differ), and no table is written.
    config.hessian.request.parts.reset();
    config.gradient_variance.parts.reset();
    config.cells = {"DARTS_V2"};
    config.seeds = {5};
    const StudyResult plain = run_study(config, dir / "plain", "test");
    CHECK(plain.parts.empty());
    CHECK_FALSE(Hdf5File(dir / "plain" / "summary.h5", Hdf5File::Mode::read).contains("parts"));
}

TEST_CASE("a proxies file made with other settings is computed again, not refused: it costs seconds") {
    set_threads(1);
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.cells = {"DARTS_V2"};
    config.hessian.enabled = false;
    config.gradient_variance.enabled = false;
    config.proxies.enabled = true;
    config.proxies.samples = 16;
    config.proxies.proxies = {Proxy::snip};  // as a study made before the default list grew
    REQUIRE(run_study(config, dir / "study", "test").failed_replicates == 0);
    config.proxies.proxies = all_proxies();
    const StudyResult again = run_study(config, dir / "study", "test");
    REQUIRE(again.failed_replicates == 0);
    CHECK(std::isfinite(again.rows[0].naswot));
    CHECK(std::isfinite(again.rows[0].zico));
    const Hdf5File file(dir / "study" / "DARTS_V2" / "proxies-epoch-0000.h5", Hdf5File::Mode::read);
    CHECK(file.has_attribute("/", "fisher"));
}

TEST_CASE("a study's proxies score each replicate's initial network, the one its training started from") {
    set_threads(1);
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.cells = {"DARTS_V2"};
    config.seeds = {3, 4};
    config.proxies.enabled = true;
    config.proxies.samples = 16;
    config.training.checkpoint_epochs = {0};  // the trainer's own initial weights, the reference
    const StudyResult result = run_study(config, dir / "study", "test");
    REQUIRE(result.failed_replicates == 0);
    REQUIRE(result.rows.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        const auto replicate = dir / "study" / result.rows[i].directory;
        ObjectiveSource source;
        source.checkpoint = (replicate / "train" / "epoch-0000.h5").string();
        EvaluationSamples samples;
        samples.samples = 16;
        samples.seed = config.analysis_seed;
        LoadedModel loaded = load_model_and_samples(source, samples);
        const ProxyScores expected = zero_cost_proxies(*loaded.model, loaded.samples, ProxyOptions{});
        // The same computation on the same weights and images, one thread: equal to the last bit.
        const StudyRow& row = result.rows[i];
        CHECK(row.grad_norm == expected.at(Proxy::grad_norm));
        CHECK(row.snip == expected.at(Proxy::snip));
        CHECK(row.grasp == expected.at(Proxy::grasp));
        CHECK(row.fisher == expected.at(Proxy::fisher));
        CHECK(row.synflow == expected.at(Proxy::synflow));
        CHECK(row.jacob_cov == expected.at(Proxy::jacob_cov));
        CHECK(row.naswot == expected.at(Proxy::naswot));
        CHECK(row.zico == expected.at(Proxy::zico));
        const Hdf5File file(replicate / "proxies-epoch-0000.h5", Hdf5File::Mode::read);
        CHECK_THAT(file.string_attribute("/", "model_source"), Contains("(initial weights)"));
        CHECK(file.double_attribute("/", "compute_seconds") > 0);
    }
    CHECK(result.rows[0].snip != result.rows[1].snip);  // each seed its own network
    // Rebuilding an initial network does not reseed the caller's random
    // stream: it moves on as loading the checkpoint's own weights moves it
    // (building any network draws its initialization from it).
    ObjectiveSource trained;
    trained.checkpoint = (dir / "study" / result.rows[0].directory / "train" / "epoch-0001.h5").string();
    ObjectiveSource initial = trained;
    initial.initial_weights = true;
    const EvaluationSamples few{16, Sampling::random, Split::train, 0};
    torch::manual_seed(123);
    (void)load_model_and_samples(trained, few);
    const torch::Tensor expected_draw = torch::rand({4});
    torch::manual_seed(123);
    (void)load_model_and_samples(initial, few);
    CHECK(torch::equal(torch::rand({4}), expected_draw));
    CHECK(column(result.summary, "snip") == std::vector<double>{result.rows[0].snip, result.rows[1].snip});

    // Other proxy settings: the files are not reused but computed again (they cost seconds), and the
    // proxies the change does not touch come out the same; a missing file leaves the replicate unfinished.
    StudyConfig changed = config;
    changed.proxies.zico_batches = 4;
    const StudyResult recomputed = run_study(changed, dir / "study", "test");
    CHECK(recomputed.failed_replicates == 0);
    CHECK(recomputed.rows[0].zico != result.rows[0].zico);
    CHECK(recomputed.rows[0].snip == result.rows[0].snip);
    CHECK_THAT(Hdf5File(dir / "study" / recomputed.rows[0].directory / "proxies-epoch-0000.h5", Hdf5File::Mode::read)
                   .string_attribute("/", "settings"),
               Contains("\"zico_batches\":4"));
    REQUIRE(run_study(config, dir / "study", "test").failed_replicates == 0);  // back to the first settings
    const auto replicates = study_replicates(config);
    CHECK(study_replicate_finished(config, dir / "study", replicates[0]));
    std::filesystem::remove(dir / "study" / replicates[0].directory / "proxies-epoch-0000.h5");
    CHECK_FALSE(study_replicate_finished(config, dir / "study", replicates[0]));
    CHECK(run_study(config, dir / "study", "test").rows[0].snip == result.rows[0].snip);
    // Without [analysis.proxies] the files left by a run with it are not this study's columns.
    StudyConfig without = config;
    without.proxies.enabled = false;
    CHECK(std::isnan(run_study(without, dir / "study", "test").rows[0].snip));
}

TEST_CASE("a study's proxy settings are checked before any cell is trained") {
    const TemporaryDirectory dir;
    StudyConfig config = toy_study(testing::write_toy_dataset(dir));
    config.proxies.enabled = true;
    config.proxies.samples = 16;
    config.proxies.zico_batches = 3;
    CHECK_THROWS_WITH(validate_study(config),
                      Contains("toy.toml: [analysis.proxies] zico_batches: must divide the 16 samples"));
    config.proxies.zico_batches = 2;
    config.proxies.samples = 0;
    CHECK_THROWS_WITH(validate_study(config), Contains("[analysis.proxies] samples: must be at least 1"));
    config.proxies.samples = 16;
    config.proxies.proxies = {Proxy::snip, Proxy::snip};
    CHECK_THROWS_WITH(validate_study(config), Contains("[analysis.proxies] proxies: names snip twice"));
}
