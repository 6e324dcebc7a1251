// The HDF5 layer: tensors and attributes written and read back, atomic
// writes, and clear errors for files that are not what they should be.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "cellscape/io/hdf5.hpp"
#include "support/temporary_directory.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;
using testing::TemporaryDirectory;

TEST_CASE("tensors of every stored type come back identical") {
    const TemporaryDirectory dir;
    const auto path = dir / "tensors.h5";
    torch::manual_seed(5);
    const std::vector<std::pair<std::string, torch::Tensor>> tensors = {
        {"a/float", torch::randn({3, 4})},
        {"a/double", torch::randn({2, 2, 2}, torch::kFloat64)},
        {"b/c/int64", torch::randint(-1000, 1000, {7}, torch::kInt64)},
        {"int32", torch::randint(-5, 5, {2, 3}, torch::kInt32)},
        {"uint8", torch::randint(0, 255, {5}, torch::kUInt8)},
        {"empty", torch::zeros({0}, torch::kFloat64)},
        {"params/cells.0.ops.1.op.2.weight", torch::randn({4, 4, 1, 1})},
    };
    {
        Hdf5File file(path, Hdf5File::Mode::create);
        for (const auto& [name, tensor] : tensors) file.write(name, tensor);
        file.set_attribute("/", "text", std::string("héllo"));
        file.set_attribute("a", "count", int64_t{42});
        file.set_attribute("a/float", "scale", 0.125);
    }
    const Hdf5File file(path, Hdf5File::Mode::read);
    for (const auto& [name, tensor] : tensors) {
        INFO(name);
        const auto back = file.read(name);
        CHECK(back.scalar_type() == tensor.scalar_type());
        CHECK(torch::equal(back, tensor));
    }
    CHECK(file.members("params") == std::vector<std::string>{"cells.0.ops.1.op.2.weight"});
    CHECK(file.members("b") == std::vector<std::string>{"c"});
    CHECK(file.contains("b/c/int64"));
    CHECK_FALSE(file.contains("b/x/int64"));
    CHECK(file.shape("a/double") == std::vector<int64_t>{2, 2, 2});
    CHECK(file.string_attribute("/", "text") == "héllo");
    CHECK(file.int_attribute("a", "count") == 42);
    CHECK(file.double_attribute("a/float", "scale") == 0.125);
    CHECK_THROWS_WITH(file.read("nope"), Contains("has no dataset 'nope'"));
    CHECK_THROWS_WITH(file.int_attribute("/", "nope"), Contains("has no attribute 'nope'"));
}

TEST_CASE("an atomic write leaves the old file or the complete new one, never a partial one") {
    const TemporaryDirectory dir;
    const auto path = dir / "out.h5";
    write_hdf5_atomically(path, [](Hdf5File& file) { file.write("x", torch::ones({2})); });
    CHECK_THROWS_WITH(write_hdf5_atomically(path,
                                            [](Hdf5File& file) {
                                                file.write("x", torch::zeros({2}));
                                                throw Error("stopped halfway");
                                            }),
                      Contains("stopped halfway"));
    CHECK_FALSE(std::filesystem::exists(path.string() + ".partial"));
    CHECK(torch::equal(Hdf5File(path, Hdf5File::Mode::read).read("x"), torch::ones({2})));
}

TEST_CASE("files that are missing, not HDF5, or of another format get clear errors") {
    const TemporaryDirectory dir;
    CHECK_THROWS_WITH(Hdf5File(dir / "missing.h5", Hdf5File::Mode::read), Contains("does not exist"));
    const auto text = dir.write("text.h5", "this is not HDF5");
    CHECK_THROWS_WITH(Hdf5File(text, Hdf5File::Mode::read), Contains("is not an HDF5 file"));

    const auto plain = dir / "plain.h5";
    { Hdf5File(plain, Hdf5File::Mode::create).write("x", torch::ones({1})); }
    CHECK_THROWS_WITH(require_format(Hdf5File(plain, Hdf5File::Mode::read), "cellscape-checkpoint"),
                      Contains("not a cellscape file"));
    const auto surface = dir / "surface.h5";
    {
        Hdf5File file(surface, Hdf5File::Mode::create);
        write_standard_attributes(file, "cellscape-surface", 1, "cellscape surface ...");
    }
    const Hdf5File file(surface, Hdf5File::Mode::read);
    CHECK_THROWS_WITH(require_format(file, "cellscape-checkpoint"), Contains("is a cellscape-surface file, not a "
                                                                             "cellscape-checkpoint"));
    CHECK(file.string_attribute("/", "command") == "cellscape surface ...");
    CHECK(file.string_attribute("/", "created").size() == 20);  // 2026-11-27T22:53:00Z
}
