// Dataset readers against the real Fashion-MNIST and against files the tests
// write in each format; subsets, normalization, augmentation.
#include <catch2/catch.hpp>

#include <torch/torch.h>
#include <zlib.h>

#include <fstream>

#include "cellscape/data/augmentation.hpp"
#include "cellscape/data/dataset.hpp"
#include "cellscape/data/detail/dataset_readers.hpp"
#include "cellscape/io/hdf5.hpp"
#include "support/temporary_directory.hpp"
#include "support/toy_dataset.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;
using Catch::Matchers::Contains;
using testing::TemporaryDirectory;

namespace {

std::string big_endian(uint32_t value) {
    return {static_cast<char>(value >> 24), static_cast<char>(value >> 16), static_cast<char>(value >> 8),
            static_cast<char>(value)};
}

void write_gzip(const std::filesystem::path& path, const std::string& bytes) {
    gzFile file = gzopen(path.c_str(), "wb");
    gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(file);
}

// IDX files of `count` images of 2x3 pixels valued (i + pixel) and labels i % 10.
void write_idx_pair(const std::filesystem::path& dir, const std::string& prefix, uint32_t count) {
    std::string images = std::string("\0\0\x08\x03", 4) + big_endian(count) + big_endian(2) + big_endian(3);
    std::string labels = std::string("\0\0\x08\x01", 4) + big_endian(count);
    for (uint32_t i = 0; i < count; ++i) {
        for (uint32_t p = 0; p < 6; ++p) images += static_cast<char>(i + p);
        labels += static_cast<char>(i % 10);
    }
    write_gzip(dir / (prefix + "-images-idx3-ubyte.gz"), images);
    write_gzip(dir / (prefix + "-labels-idx1-ubyte.gz"), labels);
}

// CIFAR records: label byte(s), then 3x32x32 pixels; pixel value = (record + channel) % 256.
std::string cifar_records(int count, int label_bytes, int first_label) {
    std::string bytes;
    for (int r = 0; r < count; ++r) {
        if (label_bytes == 2) bytes += static_cast<char>(r % 20);  // coarse label
        bytes += static_cast<char>((first_label + r) % (label_bytes == 2 ? 100 : 10));
        for (int channel = 0; channel < 3; ++channel) bytes += std::string(1024, static_cast<char>((r + channel) % 256));
    }
    return bytes;
}

}  // namespace

TEST_CASE("Fashion-MNIST from Debian's package has the published shape and contents") {
    const LabelledImages train = read_idx_pair("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
                                               "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz");
    const LabelledImages test = read_idx_pair("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                              "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
    CHECK(train.images.sizes() == torch::IntArrayRef{60000, 1, 28, 28});
    CHECK(test.images.sizes() == torch::IntArrayRef{10000, 1, 28, 28});
    CHECK(train.labels.min().item<int64_t>() == 0);
    CHECK(train.labels.max().item<int64_t>() == 9);
    // First training labels and the byte sum of the first image, read independently with numpy.
    CHECK(torch::equal(train.labels.narrow(0, 0, 4), torch::tensor({9, 0, 0, 3}, torch::kInt64)));
    CHECK(train.images[0].to(torch::kInt64).sum().item<int64_t>() == 76247);
    // Balanced: 6000 training and 1000 test images per class.
    CHECK(torch::equal(torch::bincount(train.labels), torch::full({10}, 6000, torch::kInt64)));
    CHECK(torch::equal(torch::bincount(test.labels), torch::full({10}, 1000, torch::kInt64)));
}

TEST_CASE("IDX files written by the test read back, and damaged ones are refused") {
    const TemporaryDirectory dir;
    write_idx_pair(dir.path(), "train", 12);
    write_idx_pair(dir.path(), "t10k", 5);
    const Dataset dataset = load_dataset({"fashion-mnist:" + dir.path().string(), 0, 0, 0, false});
    CHECK(dataset.train.images.sizes() == torch::IntArrayRef{12, 1, 2, 3});
    CHECK(dataset.test.size() == 5);
    CHECK(dataset.train.images[3][0][1][2].item<float>() == Approx((3 + 5) / 255.0));
    CHECK(dataset.train.labels[11].item<int64_t>() == 1);

    SECTION("missing files name the Debian package") {
        CHECK_THROWS_WITH(load_dataset({"fashion-mnist:" + (dir / "nowhere").string(), 0, 0, 0, true}),
                          Contains("apt-get install dataset-fashion-mnist"));
    }
    SECTION("a truncated file") {
        write_gzip(dir / "train-images-idx3-ubyte.gz",
                   std::string("\0\0\x08\x03", 4) + big_endian(12) + big_endian(2) + big_endian(3) + "short");
        CHECK_THROWS_WITH(load_dataset({"fashion-mnist:" + dir.path().string(), 0, 0, 0, true}),
                          Contains("truncated or corrupt"));
    }
    SECTION("a file that is not IDX") {
        write_gzip(dir / "train-labels-idx1-ubyte.gz", "hello, world");
        CHECK_THROWS_WITH(load_dataset({"fashion-mnist:" + dir.path().string(), 0, 0, 0, true}),
                          Contains("is not an IDX file"));
    }
}

TEST_CASE("the CIFAR-10 and CIFAR-100 binary readers read files in the official layout") {
    const TemporaryDirectory dir;
    const auto batches = dir / "cifar-10-batches-bin";
    std::filesystem::create_directories(batches);
    for (int i = 1; i <= 5; ++i)
        std::ofstream(batches / ("data_batch_" + std::to_string(i) + ".bin"), std::ios::binary)
            << cifar_records(3, 1, i);
    std::ofstream(batches / "test_batch.bin", std::ios::binary) << cifar_records(4, 1, 7);
    const Dataset cifar10 = load_dataset({"cifar10:" + dir.path().string(), 0, 0, 0, false});
    CHECK(cifar10.classes == 10);
    CHECK(cifar10.train.images.sizes() == torch::IntArrayRef{15, 3, 32, 32});
    CHECK(cifar10.test.size() == 4);
    // Record 1 of data_batch_2: label 3, channel c filled with (1 + c) / 255.
    CHECK(cifar10.train.labels[4].item<int64_t>() == 3);
    CHECK(cifar10.train.images[4][2][17][5].item<float>() == Approx(3 / 255.0));

    std::ofstream(dir / "train.bin", std::ios::binary) << cifar_records(6, 2, 95);
    std::ofstream(dir / "test.bin", std::ios::binary) << cifar_records(2, 2, 0);
    const Dataset cifar100 = load_dataset({"cifar100:" + dir.path().string(), 0, 0, 0, false});
    CHECK(cifar100.classes == 100);
    CHECK(torch::equal(cifar100.train.labels, torch::tensor({95, 96, 97, 98, 99, 0}, torch::kInt64)));  // fine labels

    std::ofstream(batches / "data_batch_4.bin", std::ios::binary) << cifar_records(2, 1, 0).substr(0, 5000);
    CHECK_THROWS_WITH(load_dataset({"cifar10:" + dir.path().string(), 0, 0, 0, false}),
                      Contains("data_batch_4.bin is 5000 bytes, not a whole number of 3073-byte CIFAR records"));
    std::ofstream(batches / "data_batch_4.bin", std::ios::binary) << cifar_records(3, 1, 4);
    std::filesystem::remove(batches / "test_batch.bin");
    CHECK_THROWS_WITH(load_dataset({"cifar10:" + dir.path().string(), 0, 0, 0, false}), Contains("test_batch.bin"));
    CHECK_THROWS_WITH(load_dataset({"cifar10", 0, 0, 0, false}), Contains("needs a directory"));
}

TEST_CASE("an HDF5 dataset with x, y and an optional test split") {
    const TemporaryDirectory dir;
    const auto path = dir / "data.h5";
    {
        Hdf5File file(path, Hdf5File::Mode::create);
        file.write("x", torch::arange(8 * 2 * 4 * 4, torch::kFloat32).reshape({8, 2, 4, 4}));
        file.write("y", torch::tensor({0, 1, 2, 3, 0, 1, 2, 3}, torch::kInt32));
        file.write("x_test", torch::zeros({3, 2, 4, 4}, torch::kUInt8));
        file.write("y_test", torch::tensor({4, 0, 1}, torch::kInt64));
    }
    const Dataset dataset = load_dataset({"h5:" + path.string(), 0, 0, 0, false});
    CHECK(dataset.classes == 5);  // largest label 4
    CHECK(dataset.sample_shape == std::vector<int64_t>{2, 4, 4});
    CHECK(dataset.train.images[1][0][0][0].item<float>() == 32.0f);
    CHECK(dataset.test.size() == 3);

    {
        Hdf5File file(dir / "bad.h5", Hdf5File::Mode::create);
        file.write("x", torch::zeros({4, 3}));
        file.write("y", torch::zeros({3}, torch::kInt64));
    }
    CHECK_THROWS_WITH(load_dataset({"h5:" + (dir / "bad.h5").string(), 0, 0, 0, false}),
                      Contains("has 4 samples but 'y' has 3 labels"));
    {
        Hdf5File file(dir / "no-y.h5", Hdf5File::Mode::create);
        file.write("x", torch::zeros({4, 3}));
    }
    CHECK_THROWS_WITH(load_dataset({"h5:" + (dir / "no-y.h5").string(), 0, 0, 0, false}), Contains("no dataset 'y'"));
    CHECK_THROWS_WITH(load_dataset({"mnist", 0, 0, 0, false}), Contains("unknown dataset 'mnist'"));
}

TEST_CASE("an HDF5 dataset holding a NaN or infinite pixel is refused when read, naming the sample") {
    const TemporaryDirectory dir;
    const auto path = dir / "data.h5";
    torch::Tensor x = torch::zeros({5, 1, 2, 2});
    x[3][0][1][0] = NAN;
    x[4][0][0][0] = INFINITY;
    {
        Hdf5File file(path, Hdf5File::Mode::create);
        file.write("x", x);
        file.write("y", torch::zeros({5}, torch::kInt64));
    }
    CHECK_THROWS_WITH(load_dataset({"h5:" + path.string(), 0, 0, 0, false}),
                      Contains("'x' holds 2 NaN or infinite values (the first in sample 3)"));
    CHECK_THROWS_WITH(load_dataset({"h5:" + write_toy_dataset(dir, true).string(), 0, 0, 0, true}),
                      Contains("'x' holds 1 NaN or infinite values (the first in sample 0)"));
}

TEST_CASE("seeded subsets and per-channel normalization") {
    const Dataset a = load_dataset({"fashion-mnist", 500, 200, 7, true});
    const Dataset b = load_dataset({"fashion-mnist", 500, 200, 7, true});
    const Dataset c = load_dataset({"fashion-mnist", 500, 200, 8, true});
    CHECK(a.train.size() == 500);
    CHECK(a.test.size() == 200);
    CHECK(torch::equal(a.train_indices, b.train_indices));
    CHECK_FALSE(torch::equal(a.train_indices, c.train_indices));
    CHECK(torch::equal(std::get<0>(a.train_indices.sort()), a.train_indices));
    CHECK(hash_indices(a.train_indices) == hash_indices(b.train_indices));
    CHECK(hash_indices(a.train_indices) != hash_indices(c.train_indices));
    // After normalization the training subset has mean 0 and standard deviation 1
    // (float32 sums over 392000 values: 1e-4 absolute is ample).
    CHECK(std::abs(a.train.images.mean().item<double>()) < 1e-4);
    CHECK(std::abs(a.train.images.std(false).item<double>() - 1.0) < 1e-4);
    CHECK_THROWS_WITH(load_dataset({"fashion-mnist", 70000, 0, 0, true}),
                      Contains("train_size: is 70000 but the dataset has only 60000 samples"));
}

TEST_CASE("augmentation crops, flips and cuts out per sample, in one batched pass") {
    torch::manual_seed(4);
    const auto images = torch::rand({16, 2, 6, 5}) + 1.0;  // strictly positive, so zeros come from padding/cutout

    SECTION("each crop is a window of the zero-padded image") {
        const auto out = augment(images, {2, false, 0});
        REQUIRE(out.sizes() == images.sizes());
        const auto padded = torch::constant_pad_nd(images, {2, 2, 2, 2});
        int shifted = 0;
        for (int64_t i = 0; i < 16; ++i) {
            bool found = false;
            for (int64_t dy = 0; dy <= 4 && !found; ++dy)
                for (int64_t dx = 0; dx <= 4 && !found; ++dx)
                    found = torch::equal(out[i], padded[i].narrow(1, dy, 6).narrow(2, dx, 5));
            CHECK(found);
            shifted += torch::equal(out[i], images[i]) ? 0 : 1;
        }
        CHECK(shifted > 8);  // 24 of 25 offsets move the image
    }
    SECTION("flips mirror the width axis") {
        const auto out = augment(images, {0, true, 0});
        int flipped = 0;
        for (int64_t i = 0; i < 16; ++i) {
            const bool same = torch::equal(out[i], images[i]);
            CHECK((same || torch::equal(out[i], images[i].flip({2}))));
            flipped += same ? 0 : 1;
        }
        CHECK(flipped > 2);
        CHECK(flipped < 14);
    }
    SECTION("cutout zeroes at most a side x side square per channel") {
        const auto out = augment(images, {0, false, 2});
        for (int64_t i = 0; i < 16; ++i) {
            const int64_t zeros = out[i][0].eq(0).sum().item<int64_t>();
            CHECK(zeros >= 1);
            CHECK(zeros <= 4);
            CHECK(torch::equal(out[i][0].eq(0), out[i][1].eq(0)));
        }
    }
}
