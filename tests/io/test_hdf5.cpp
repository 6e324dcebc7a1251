// The HDF5 layer: tensors and attributes written and read back, atomic
// writes, and clear errors for files that are not what they should be.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/io/output_lock.hpp"

#include <unistd.h>
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
    CHECK_THROWS_WITH(require_format(Hdf5File(plain, Hdf5File::Mode::read), "cellscape-checkpoint", 1),
                      Contains("not a cellscape file"));
    const auto surface = dir / "surface.h5";
    {
        Hdf5File file(surface, Hdf5File::Mode::create);
        write_standard_attributes(file, "cellscape-surface", 1, "cellscape surface ...");
    }
    const Hdf5File file(surface, Hdf5File::Mode::read);
    CHECK_THROWS_WITH(require_format(file, "cellscape-checkpoint", 1), Contains("is a cellscape-surface file, not a "
                                                                                "cellscape-checkpoint"));
    CHECK_NOTHROW(require_format(file, "cellscape-surface", 1));
    CHECK(file.string_attribute("/", "command") == "cellscape surface ...");
    CHECK(file.string_attribute("/", "created").size() == 20);  // 2026-11-27T22:53:00Z
}

TEST_CASE("a file of a format version this build does not write is refused, naming both versions") {
    const TemporaryDirectory dir;
    auto written = [&](const std::string& name, int64_t version) {
        const auto path = dir / name;
        Hdf5File file(path, Hdf5File::Mode::create);
        write_standard_attributes(file, "cellscape-proxies", version, "cellscape proxies ...");
        return path;
    };
    const auto newer = written("newer.h5", 99);
    CHECK_THROWS_WITH(require_format(Hdf5File(newer, Hdf5File::Mode::read), "cellscape-proxies", 2),
                      Contains("format version 99, newer than this cellscape") && Contains("(at most 2)"));
    const auto zero = written("zero.h5", 0);
    CHECK_THROWS_WITH(require_format(Hdf5File(zero, Hdf5File::Mode::read), "cellscape-proxies", 2),
                      Contains("format version 0, which no cellscape writes"));
    const auto current = written("current.h5", 2), older = written("older.h5", 1);
    CHECK_NOTHROW(require_format(Hdf5File(current, Hdf5File::Mode::read), "cellscape-proxies", 2));
    CHECK_NOTHROW(require_format(Hdf5File(older, Hdf5File::Mode::read), "cellscape-proxies", 2));
}

TEST_CASE("HDF5's error printing is off only while cellscape reads and writes") {
    const TemporaryDirectory dir;
    H5E_auto2_t before = nullptr;
    void* before_data = nullptr;
    H5Eget_auto2(H5E_DEFAULT, &before, &before_data);
    REQUIRE(before != nullptr);  // HDF5's default prints error stacks
    CHECK_THROWS(Hdf5File(dir.write("not.h5", "text"), Hdf5File::Mode::read));
    { Hdf5File(dir / "file.h5", Hdf5File::Mode::create).write("x", torch::ones({2})); }
    H5E_auto2_t after = nullptr;
    void* after_data = nullptr;
    H5Eget_auto2(H5E_DEFAULT, &after, &after_data);
    CHECK(after == before);  // the host program's setting is back
    CHECK(after_data == before_data);
}

TEST_CASE("an output file is refused before any work when it exists, is a directory or has no directory") {
    const TemporaryDirectory dir;
    CHECK_NOTHROW(check_output_file(dir / "new.h5", false, "out"));
    CHECK_THROWS_WITH(check_output_file(dir.write("old.h5", "results"), false, "out"),
                      Contains("already exists: name another file, or allow overwriting it"));
    CHECK_NOTHROW(check_output_file(dir / "old.h5", true, "out"));
    CHECK_THROWS_WITH(check_output_file(dir.path(), true, "out"), Contains("is a directory: name a file in it"));
    CHECK_THROWS_WITH(check_output_file(dir / "missing/x.h5", false, "out"), Contains("does not exist: create it"));
    try {
        check_output_file(dir / "old.h5", false, "out");
    } catch (const SettingError& error) {
        CHECK(error.setting() == "out");
    }
}

TEST_CASE("a second writer of the same output is told who holds it") {
    const TemporaryDirectory dir;
    {
        const OutputLock first(dir / "run", "the training run in run");
        CHECK_THROWS_WITH(OutputLock(dir / "run", "the training run in run"),
                          Contains("the training run in run is being written by another cellscape process (pid " +
                                   std::to_string(::getpid()) + ")"));
        CHECK_NOTHROW(OutputLock(dir / "other.h5", "another surface"));
    }
    CHECK_NOTHROW(OutputLock(dir / "run", "the training run in run"));  // released with its holder
}
