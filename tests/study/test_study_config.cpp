// Study configs: what a file sets, the defaults it leaves, and the errors a
// typo or an impossible setting gets.
#include <catch2/catch.hpp>

#include "cellscape/study/study_config.hpp"
#include "support/temporary_directory.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;
using testing::TemporaryDirectory;

namespace {

const char* minimal = R"(cells = ["DARTS_V2", "DARTS_V2:chain"]
[training]
epochs = 4
)";

}  // namespace

TEST_CASE("a study config sets what it names and keeps the defaults elsewhere") {
    TemporaryDirectory directory;
    const StudyConfig config = StudyConfig::load(directory.write("widths.toml", std::string(minimal) + R"(
[network]
init_channels = 6
[analysis]
epochs = [2, 4]
[analysis.surface]
x = "-0.5:0.5:5"
eval = ["train", "test"]
)"));
    CHECK(config.name == "widths");  // the file's stem unless `name` says otherwise
    CHECK(config.cells == std::vector<std::string>{"DARTS_V2", "DARTS_V2:chain"});
    CHECK(config.network.init_channels == 6);
    CHECK(config.training.epochs == 4);
    CHECK(config.analysis_epochs == std::vector<int64_t>{2, 4});
    CHECK(config.training.checkpoint_epochs == std::vector<int64_t>{2});  // the analyses need epoch 2's checkpoint
    CHECK(config.surface.x == "-0.5:0.5:5");
    CHECK(config.surface.y == "-1:1:11");
    CHECK(config.surface.evaluations == std::vector<Split>{Split::train, Split::test});
    CHECK(config.hessian.enabled);
}

TEST_CASE("study config mistakes name the file, the key and the fix") {
    TemporaryDirectory directory;
    CHECK_THROWS_WITH(StudyConfig::load(directory / "missing.toml"), Contains("does not exist"));
    CHECK_THROWS_WITH(StudyConfig::load(directory.write("syntax.toml", "cells = [\n")), Contains("not valid TOML"));
    CHECK_THROWS_WITH(StudyConfig::load(directory.write("typo.toml", std::string(minimal) + "[analysis.hessian]\ntopk = 3\n")),
                      Contains("[analysis.hessian] topk: is not a known key") && Contains("top_k"));
    CHECK_THROWS_WITH(StudyConfig::load(directory.write("type.toml", std::string(minimal) + "[network]\nlayers = \"8\"\n")),
                      Contains("[network] layers: has the wrong type") && Contains("an integer"));
    CHECK_THROWS_WITH(StudyConfig::load(directory.write("empty.toml", "cells = []\n")), Contains("lists no cell"));
    CHECK_THROWS_WITH(StudyConfig::load(directory.write("shards.toml", std::string(minimal) + "[slurm]\nsurface_shards = 0\n")),
                      Contains("[slurm] surface_shards: must be at least 1"));
    CHECK_THROWS_WITH(StudyConfig::load(directory.write("late.toml", std::string(minimal) + "[analysis]\nepochs = [9]\n")),
                      Contains("[analysis] epochs: has 9, outside 1 to 4"));
    CHECK_THROWS_WITH(StudyConfig::load(directory.write("split.toml", std::string(minimal) +
                                                                           "[analysis.surface]\neval = [\"valid\"]\n")),
                      Contains("[analysis.surface] eval: 'valid' is not one of: train, test"));
}

TEST_CASE("[analysis.proxies] is off unless enabled, and names its proxies as the command line does") {
    TemporaryDirectory directory;
    CHECK_FALSE(StudyConfig::load(directory.write("plain.toml", minimal)).proxies.enabled);
    const StudyConfig config = StudyConfig::load(directory.write("proxies.toml", std::string(minimal) + R"(
[analysis.proxies]
enabled = true
proxies = ["snip", "zico"]
samples = 32
zico_batches = 4
)"));
    CHECK(config.proxies.enabled);
    CHECK(config.proxies.proxies == std::vector<Proxy>{Proxy::snip, Proxy::zico});
    CHECK(config.proxies.samples == 32);
    CHECK(config.proxies.zico_batches == 4);
    CHECK(config.proxies.dtype == Precision::float32);  // the default, as the reference code runs
    CHECK(StudyConfig::load(directory.write("float64.toml", std::string(minimal) + "[analysis.proxies]\ndtype = \"float64\"\n"))
              .proxies.dtype == Precision::float64);
    CHECK_THROWS_WITH(StudyConfig::load(directory.write("naswot.toml", std::string(minimal) +
                                                                            "[analysis.proxies]\nproxies = [\"nwot\"]\n")),
                      Contains("[analysis.proxies] proxies: 'nwot' is not one of: grad_norm, snip, grasp"));
    CHECK_THROWS_WITH(StudyConfig::load(directory.write("none.toml", std::string(minimal) +
                                                                          "[analysis.proxies]\nproxies = []\n")),
                      Contains("[analysis.proxies] proxies: lists no proxy"));
}

TEST_CASE("by_part names a part level for the Hessian and the gradient variance, or is refused by name") {
    TemporaryDirectory directory;
    const StudyConfig plain = StudyConfig::load(directory.write("plain.toml", minimal));
    CHECK_FALSE(plain.hessian.request.parts.has_value());
    CHECK_FALSE(plain.gradient_variance.parts.has_value());
    const StudyConfig config = StudyConfig::load(directory.write("parts.toml", std::string(minimal) + R"(
[analysis.hessian]
by_part = "edge"
[analysis.gradient_variance]
by_part = "cell"
)"));
    CHECK(config.hessian.request.parts == PartLevel::edge);
    CHECK(config.gradient_variance.parts == PartLevel::cell);
    CHECK_THROWS_WITH(StudyConfig::load(directory.write("op.toml", std::string(minimal) +
                                                                        "[analysis.hessian]\nby_part = \"layer\"\n")),
                      Contains("[analysis.hessian] by_part: 'layer' is not one of: cell, edge"));
}
