#pragma once
// The one place that reads and writes HDF5 (HDF5 1.10 C++ API). Tensors go in
// and out as datasets of the matching type; names are paths ("history/step_loss",
// "parameters/cells.0.ops.1.op.1.weight"), parent groups are created on write.
// Every HDF5 failure becomes an Error that names the file and the object.
#include <torch/torch.h>

#include <H5Cpp.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cellscape {

class Hdf5File {
public:
    enum class Mode { read, read_write, create };
    Hdf5File(const std::filesystem::path& path, Mode mode);

    const std::filesystem::path& path() const { return path_; }
    bool contains(const std::string& name) const;
    std::vector<std::string> members(const std::string& group) const;  // child names, sorted
    std::vector<int64_t> shape(const std::string& dataset) const;

    // float32, float64, (u)int8/16/32/64 and bool datasets, as tensors of the
    // matching dtype (unsigned 16/32/64 read as int64).
    torch::Tensor read(const std::string& dataset) const;
    // Creates (or, when it exists with the same shape and type, overwrites) the dataset.
    void write(const std::string& dataset, const torch::Tensor& tensor);
    // One-dimensional datasets of variable-length UTF-8 strings (h5py reads
    // them as bytes or, with .asstr(), as str).
    void write_strings(const std::string& dataset, const std::vector<std::string>& values);
    std::vector<std::string> read_strings(const std::string& dataset) const;
    // Creates the group (and its parents) if it does not exist.
    void create_group(const std::string& name) { group(name, true); }

    void set_attribute(const std::string& object, const std::string& name, const std::string& value);
    void set_attribute(const std::string& object, const std::string& name, int64_t value);
    void set_attribute(const std::string& object, const std::string& name, double value);
    bool has_attribute(const std::string& object, const std::string& name) const;
    std::string string_attribute(const std::string& object, const std::string& name) const;
    int64_t int_attribute(const std::string& object, const std::string& name) const;
    double double_attribute(const std::string& object, const std::string& name) const;

    void flush();
    void close();

private:
    H5::Group group(const std::string& name, bool create) const;
    // Scalar numeric attributes: one implementation for int64 and double.
    template <typename T>
    void write_scalar_attribute(const std::string& object, const std::string& name, const H5::PredType& type, T value);
    template <typename T>
    T read_scalar_attribute(const std::string& object, const std::string& name, const H5::PredType& type,
                            const char* kind) const;
    [[noreturn]] void fail(const std::string& what, const std::string& object) const;

    std::filesystem::path path_;
    H5::H5File file_;
};

// Writes a file under `path` + ".partial" and renames it onto `path` once
// `write` has returned: readers see the old file or the complete new one.
void write_hdf5_atomically(const std::filesystem::path& path, const std::function<void(Hdf5File&)>& write);

// The root attributes every cellscape output carries (DESIGN.md, Files):
// format, format_version, cellscape_version, command, created (UTC, ISO 8601).
void write_standard_attributes(Hdf5File& file, const std::string& format, int64_t format_version,
                               const std::string& command);

// Throws Error unless `file` is a cellscape file of `format` (naming what it is instead).
void require_format(const Hdf5File& file, const std::string& format);

}  // namespace cellscape
