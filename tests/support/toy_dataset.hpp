#pragma once
// A small HDF5 dataset the tests train on: 64 training and 32 test images of
// 1x8x8 in 4 classes whose means differ, so a small network can learn them.
// `poison` puts a NaN in the training images (a reader must refuse it).
#include <torch/torch.h>

#include <filesystem>

#include "cellscape/io/hdf5.hpp"
#include "support/temporary_directory.hpp"

namespace cellscape::testing {

inline std::filesystem::path write_toy_dataset(const TemporaryDirectory& dir, bool poison = false) {
    torch::manual_seed(11);
    auto make = [](int64_t n) {
        const auto labels = torch::arange(n, torch::kInt64).remainder(4);
        auto images = torch::randn({n, 1, 8, 8}) * 0.5 + labels.to(torch::kFloat32).view({n, 1, 1, 1});
        return std::make_pair(images, labels);
    };
    auto [x, y] = make(64);
    auto [x_test, y_test] = make(32);
    if (poison) x[0][0][0][0] = NAN;
    const auto path = dir / "toy.h5";
    Hdf5File file(path, Hdf5File::Mode::create);
    file.write("x", x);
    file.write("y", y);
    file.write("x_test", x_test);
    file.write("y_test", y_test);
    return path;
}

}  // namespace cellscape::testing
