#pragma once
// Datasets held in memory as tensors: images (N x C x H x W, or N x D for
// flat features) normalized per channel, and int64 labels. Batches are
// slices of these tensors; no per-sample objects exist anywhere.
//
// Specs (see docs/data.md):
//   fashion-mnist[:DIR]   gzipped IDX files (default DIR /usr/share/datasets/fashion-mnist)
//   cifar10:DIR           the official binary version (data_batch_1..5.bin, test_batch.bin)
//   cifar100:DIR          the official binary version (train.bin, test.bin; fine labels)
//   h5:FILE               an HDF5 file with x, y and optional x_test, y_test
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cellscape/data/labelled_images.hpp"

namespace cellscape {

struct Dataset {
    std::string spec;
    LabelledImages train;
    LabelledImages test;  // empty when the source has no test split
    int64_t classes = 0;
    std::vector<int64_t> sample_shape;  // C, H, W (or D)
    std::vector<double> mean, std;      // per channel, from the training subset; applied to both splits
    torch::Tensor train_indices, test_indices;  // which samples of the source the subsets hold
};

struct DatasetOptions {
    std::string spec = "fashion-mnist";
    int64_t train_size = 0;  // 0: all
    int64_t test_size = 0;   // 0: all
    uint64_t seed = 0;       // picks the subsets
    bool normalize = true;
};

Dataset load_dataset(const DatasetOptions& options);

// The whole training and test splits' sizes of a dataset `spec`: the
// published ones for Fashion-MNIST (60000, 10000) and CIFAR-10/100
// (50000, 10000), known without their files; an h5: file's read from it.
std::pair<int64_t, int64_t> split_sizes(const std::string& spec);

// Seeded choice of `count` of `total` indices, sorted; all of them when count is 0.
torch::Tensor choose_subset(int64_t total, int64_t count, uint64_t seed, const std::string& setting);

// A stable hash of an index tensor (which samples a subset holds), for provenance.
std::string hash_indices(const torch::Tensor& indices);

}  // namespace cellscape
