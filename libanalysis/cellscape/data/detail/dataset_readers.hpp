#pragma once
// The raw readers behind load_dataset (data/dataset.hpp), declared for the
// library and its tests; not installed. Images come back as uint8
// N x C x H x W, labels as int64.
#include <string>
#include <vector>

#include "cellscape/data/labelled_images.hpp"

namespace cellscape {

LabelledImages read_idx_pair(const std::string& images_path, const std::string& labels_path);
LabelledImages read_cifar_binary(const std::vector<std::string>& files, int label_bytes);

}  // namespace cellscape
