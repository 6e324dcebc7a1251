#include "cellscape/data/dataset.hpp"
#include "cellscape/data/detail/dataset_readers.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <array>
#include <filesystem>
#include <fstream>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/hash.hpp"

namespace cellscape {
namespace {

// More classes than any image classification benchmark has (ImageNet-21k: 21841).
constexpr int64_t max_classes = 100000;

namespace fs = std::filesystem;

const char* const default_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

// Reads a whole file through zlib, which passes uncompressed files through.
std::vector<unsigned char> read_gzip_file(const std::string& path) {
    gzFile file = gzopen(path.c_str(), "rb");
    if (!file) throw Error(fmt::format("cannot open {}", path));
    std::vector<unsigned char> bytes;
    std::array<unsigned char, 1 << 16> buffer;
    int n = 0;
    while ((n = gzread(file, buffer.data(), buffer.size())) > 0) bytes.insert(bytes.end(), buffer.begin(), buffer.begin() + n);
    int error_code = 0;
    const char* message = gzerror(file, &error_code);
    const std::string zlib_message = message ? message : "";
    gzclose(file);
    if (n < 0 || (error_code != Z_OK && error_code != Z_STREAM_END))
        throw Error(fmt::format("{} is corrupt (zlib: {}); reinstall or re-download it", path, zlib_message));
    return bytes;
}

uint32_t big_endian_u32(const std::vector<unsigned char>& bytes, std::size_t offset) {
    return (uint32_t{bytes[offset]} << 24) | (uint32_t{bytes[offset + 1]} << 16) | (uint32_t{bytes[offset + 2]} << 8) |
           uint32_t{bytes[offset + 3]};
}

// IDX: magic 0x00000800 | type (0x08 = ubyte) << 0 | dims, then big-endian dimension sizes, then data.
torch::Tensor read_idx(const std::string& path, int expected_dims) {
    const auto bytes = read_gzip_file(path);
    if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] != expected_dims)
        throw Error(fmt::format("{} is not an IDX file of unsigned bytes with {} dimensions", path, expected_dims));
    std::vector<int64_t> dims;
    std::size_t offset = 4;
    int64_t count = 1;
    for (int d = 0; d < expected_dims; ++d, offset += 4) {
        if (bytes.size() < offset + 4) throw Error(fmt::format("{} is truncated in its header", path));
        dims.push_back(big_endian_u32(bytes, offset));
        count *= dims.back();
    }
    if (bytes.size() != offset + static_cast<std::size_t>(count))
        throw Error(fmt::format("{} holds {} data bytes where its header promises {}: the file is truncated or corrupt",
                                path, bytes.size() - offset, count));
    return torch::from_blob(const_cast<unsigned char*>(bytes.data() + offset), dims, torch::kUInt8).clone();
}

LabelledImages read_fashion_mnist_split(const fs::path& dir, const std::string& prefix) {
    const fs::path images = dir / (prefix + "-images-idx3-ubyte.gz");
    const fs::path labels = dir / (prefix + "-labels-idx1-ubyte.gz");
    for (const auto& path : {images, labels})
        if (!fs::exists(path))
            throw Error(fmt::format("Fashion-MNIST file {} is missing: install Debian's package with "
                                    "`apt-get install dataset-fashion-mnist`, or point fashion-mnist:DIR at a "
                                    "directory with the four gzipped IDX files",
                                    path.string()));
    return read_idx_pair(images.string(), labels.string());
}

// CIFAR archives extract into a subdirectory; accept DIR or DIR/<that subdirectory>.
fs::path locate_cifar(const fs::path& dir, const std::string& subdirectory, const std::string& probe) {
    if (fs::exists(dir / probe)) return dir;
    if (fs::exists(dir / subdirectory / probe)) return dir / subdirectory;
    throw Error(fmt::format("{} is missing (looked in {} and {}): extract the binary version of the dataset "
                            "({}.tar.gz) there",
                            probe, dir.string(), (dir / subdirectory).string(),
                            subdirectory == "cifar-10-batches-bin" ? "cifar-10-binary" : "cifar-100-binary"));
}

struct SourceData {
    LabelledImages train, test;
    int64_t classes;
};

SourceData read_source(const std::string& spec) {
    const auto colon = spec.find(':');
    const std::string kind = spec.substr(0, colon);
    const std::string argument = colon == std::string::npos ? "" : spec.substr(colon + 1);
    if (kind == "fashion-mnist") {
        const fs::path dir = argument.empty() ? default_fashion_mnist_dir : argument;
        return {read_fashion_mnist_split(dir, "train"), read_fashion_mnist_split(dir, "t10k"), 10};
    }
    if ((kind == "cifar10" || kind == "cifar100") && argument.empty())
        throw Error(fmt::format("dataset '{}' needs a directory: {}:DIR", spec, kind));
    if (kind == "cifar10") {
        const fs::path dir = locate_cifar(argument, "cifar-10-batches-bin", "data_batch_1.bin");
        std::vector<std::string> train_files;
        for (int i = 1; i <= 5; ++i) train_files.push_back((dir / fmt::format("data_batch_{}.bin", i)).string());
        return {read_cifar_binary(train_files, 1), read_cifar_binary({(dir / "test_batch.bin").string()}, 1), 10};
    }
    if (kind == "cifar100") {
        const fs::path dir = locate_cifar(argument, "cifar-100-binary", "train.bin");
        return {read_cifar_binary({(dir / "train.bin").string()}, 2),
                read_cifar_binary({(dir / "test.bin").string()}, 2), 100};
    }
    if (kind == "h5") {
        if (argument.empty()) throw Error("dataset 'h5' needs a file: h5:FILE");
        Hdf5File file(argument, Hdf5File::Mode::read);
        auto read_pair = [&](const std::string& x, const std::string& y) {
            LabelledImages set{file.read(x), file.read(y)};
            if (set.images.scalar_type() != torch::kFloat32 && set.images.scalar_type() != torch::kUInt8 &&
                set.images.scalar_type() != torch::kFloat64)
                throw Error(fmt::format("{}: '{}' must be float32 or uint8", argument, x));
            if (set.images.dim() != 2 && set.images.dim() != 4)
                throw Error(fmt::format("{}: '{}' must be N x C x H x W or N x D, not {}-dimensional", argument, x,
                                        set.images.dim()));
            if (set.labels.dim() != 1 || set.labels.is_floating_point())
                throw Error(fmt::format("{}: '{}' must be a 1-D integer dataset of labels", argument, y));
            set.labels = set.labels.to(torch::kInt64);
            if (set.images.size(0) == 0) throw Error(fmt::format("{}: '{}' holds no samples", argument, x));
            // A NaN pixel would make every score of a batch that holds it NaN, long after loading.
            if (set.images.is_floating_point() && !torch::isfinite(set.images).all().item<bool>())
                throw Error(fmt::format("{}: '{}' holds {} NaN or infinite values (the first in sample {}); every "
                                        "image must be finite: mend or leave out those samples",
                                        argument, x, (~torch::isfinite(set.images)).sum().item<int64_t>(),
                                        (~torch::isfinite(set.images)).reshape({set.images.size(0), -1})
                                            .any(1).nonzero().min().item<int64_t>()));
            // The labels decide the classifier's size: a label of 10^9 is damage, not a billion classes.
            const int64_t lowest = set.labels.numel() ? set.labels.min().item<int64_t>() : 0;
            const int64_t highest = set.labels.numel() ? set.labels.max().item<int64_t>() : 0;
            if (lowest < 0 || highest >= max_classes)
                throw Error(fmt::format("{}: '{}' holds the label {}; labels are class numbers from 0 to {}", argument,
                                        y, lowest < 0 ? lowest : highest, max_classes - 1));
            if (set.labels.size(0) != set.images.size(0))
                throw Error(fmt::format("{}: '{}' has {} samples but '{}' has {} labels", argument, x,
                                        set.images.size(0), y, set.labels.size(0)));
            return set;
        };
        for (const char* name : {"x", "y"})
            if (!file.contains(name))
                throw Error(fmt::format("{} has no dataset '{}': an h5 dataset needs 'x' (N x C x H x W or N x D) "
                                        "and 'y' (N integer labels)",
                                        argument, name));
        SourceData source{read_pair("x", "y"), {}, 0};
        if (file.contains("x_test") && file.contains("y_test")) source.test = read_pair("x_test", "y_test");
        int64_t max_label = source.train.labels.max().item<int64_t>();
        if (source.test.size() > 0) max_label = std::max(max_label, source.test.labels.max().item<int64_t>());
        source.classes = file.has_attribute("/", "classes") ? file.int_attribute("/", "classes") : max_label + 1;
        return source;
    }
    throw Error(fmt::format("unknown dataset '{}': use fashion-mnist, cifar10:DIR, cifar100:DIR or h5:FILE", spec));
}

void check_labels(const LabelledImages& set, int64_t classes, const std::string& spec) {
    if (set.size() == 0) return;
    const int64_t low = set.labels.min().item<int64_t>(), high = set.labels.max().item<int64_t>();
    if (low < 0 || high >= classes)
        throw Error(fmt::format("dataset {} has labels from {} to {}, outside 0 to {}", spec, low, high, classes - 1));
}

LabelledImages take(const LabelledImages& set, const torch::Tensor& indices) {
    return {set.images.index_select(0, indices), set.labels.index_select(0, indices)};
}

torch::Tensor to_float(const torch::Tensor& images) {
    if (images.scalar_type() == torch::kUInt8) return images.to(torch::kFloat32).div_(255.0);
    return images.to(torch::kFloat32);
}

}  // namespace

LabelledImages read_idx_pair(const std::string& images_path, const std::string& labels_path) {
    torch::Tensor images = read_idx(images_path, 3);
    const torch::Tensor labels = read_idx(labels_path, 1).to(torch::kInt64);
    if (images.size(0) != labels.size(0))
        throw Error(fmt::format("{} has {} images but {} has {} labels", images_path, images.size(0), labels_path,
                                labels.size(0)));
    return {images.unsqueeze(1), labels};
}

LabelledImages read_cifar_binary(const std::vector<std::string>& files, int label_bytes) {
    constexpr int64_t pixels = 3 * 32 * 32;
    const int64_t record = label_bytes + pixels;
    std::vector<torch::Tensor> images, labels;
    for (const std::string& path : files) {
        if (!fs::exists(path))
            throw Error(fmt::format("CIFAR binary file {} is missing: extract the binary version of the dataset there",
                                    path));
        const auto size = static_cast<int64_t>(fs::file_size(path));
        if (size == 0 || size % record != 0)
            throw Error(fmt::format("{} is {} bytes, not a whole number of {}-byte CIFAR records: the file is "
                                    "truncated, corrupt, or of the other CIFAR version",
                                    path, size, record));
        std::ifstream in(path, std::ios::binary);
        torch::Tensor raw = torch::empty({size / record, record}, torch::kUInt8);
        in.read(reinterpret_cast<char*>(raw.data_ptr<uint8_t>()), size);
        if (!in) throw Error(fmt::format("cannot read {}", path));
        // The fine label is the last label byte (CIFAR-100 stores coarse, then fine).
        labels.push_back(raw.select(1, label_bytes - 1).to(torch::kInt64));
        images.push_back(raw.narrow(1, label_bytes, pixels).reshape({-1, 3, 32, 32}));
    }
    return {torch::cat(images), torch::cat(labels)};
}

torch::Tensor choose_subset(int64_t total, int64_t count, uint64_t seed, const std::string& setting) {
    if (count < 0) throw SettingError(setting, fmt::format("must not be negative (got {})", count));
    if (count > total)
        throw SettingError(setting, fmt::format("is {} but the dataset has only {} samples", count, total));
    if (count == 0 || count == total) return torch::arange(total, torch::kInt64);
    auto generator = at::detail::createCPUGenerator(seed);
    const torch::Tensor permutation = torch::randperm(total, generator, torch::kInt64);
    return std::get<0>(permutation.narrow(0, 0, count).sort());
}

std::string hash_indices(const torch::Tensor& indices) {
    const torch::Tensor data = indices.to(torch::kInt64).contiguous();
    Fnv1a hash;
    hash.add(data.data_ptr<int64_t>(), static_cast<std::size_t>(data.numel()) * sizeof(int64_t));
    return hash.hex();
}

std::pair<int64_t, int64_t> split_sizes(const std::string& spec) {
    const std::string kind = spec.substr(0, spec.find(':'));
    if (kind == "fashion-mnist") return {60000, 10000};
    if (kind == "cifar10" || kind == "cifar100") return {50000, 10000};
    const Dataset whole = load_dataset({spec, 0, 0, 0, false});
    return {whole.train.size(), whole.test.size()};
}

Dataset load_dataset(const DatasetOptions& options) {
    SourceData source = read_source(options.spec);
    Dataset dataset;
    dataset.spec = options.spec;
    dataset.classes = source.classes;
    check_labels(source.train, source.classes, options.spec);
    check_labels(source.test, source.classes, options.spec);

    dataset.train_indices = choose_subset(source.train.size(), options.train_size, options.seed, "train_size");
    dataset.train = take(source.train, dataset.train_indices);
    if (source.test.size() > 0) {
        // A different stream from the training subset's, so the two choices are independent.
        dataset.test_indices = choose_subset(source.test.size(), options.test_size, options.seed ^ 0x9e3779b97f4a7c15ULL,
                                             "test_size");
        dataset.test = take(source.test, dataset.test_indices);
    } else if (options.test_size > 0) {
        throw SettingError("test_size", fmt::format("dataset {} has no test split (x_test, y_test), so a test "
                                                    "subset size cannot apply",
                                                    options.spec));
    }
    dataset.train.images = to_float(dataset.train.images);
    if (dataset.test.size() > 0) dataset.test.images = to_float(dataset.test.images);
    dataset.sample_shape = dataset.train.images.sizes().slice(1).vec();

    // Per-channel statistics of the training subset (channels = dim 1; flat
    // features are one channel), in float64 for accuracy.
    const torch::Tensor as_channels = dataset.train.images.dim() == 4
                                          ? dataset.train.images.transpose(0, 1).flatten(1)
                                          : dataset.train.images.flatten().unsqueeze(0);
    const torch::Tensor mean = as_channels.to(torch::kFloat64).mean(1);
    const torch::Tensor std = as_channels.to(torch::kFloat64).std(1, false).clamp_min(1e-8);
    dataset.mean = std::vector<double>(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel());
    dataset.std = std::vector<double>(std.data_ptr<double>(), std.data_ptr<double>() + std.numel());
    if (options.normalize) {
        auto normalize = [&](torch::Tensor& images) {
            if (images.dim() == 4) {
                images.sub_(mean.to(torch::kFloat32).view({1, -1, 1, 1})).div_(std.to(torch::kFloat32).view({1, -1, 1, 1}));
            } else {
                images.sub_(mean.to(torch::kFloat32)).div_(std.to(torch::kFloat32));
            }
        };
        normalize(dataset.train.images);
        if (dataset.test.size() > 0) normalize(dataset.test.images);
    }
    return dataset;
}

}  // namespace cellscape
