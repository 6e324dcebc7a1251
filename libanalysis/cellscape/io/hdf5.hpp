#pragma once
// The one place that reads and writes HDF5 (HDF5 1.10 C++ API). Tensors go in
// and out as datasets of the matching type; names are paths ("history/step_loss",
// "parameters/cells.0.ops.1.op.1.weight"), parent groups are created on write.
// Every HDF5 failure becomes an Hdf5Error that names the file and the object.
// HDF5's own printing of its error stack is off while this code runs and
// back as the host program had it afterwards.
#include <torch/types.h>

#include <H5Cpp.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/io/column_table.hpp"
#include "cellscape/io/paths.hpp"  // check_output_file, for the writers of HDF5 files
#include "cellscape/util/error.hpp"

namespace cellscape {

// A file that cannot be opened, read or written as expected: missing,
// damaged, of another format, or a write the disk refused.
class Hdf5Error : public Error {
public:
    using Error::Error;
};

class Hdf5File {
public:
    enum class Mode { read, read_write, create };
    Hdf5File(const std::filesystem::path& path, Mode mode);
    ~Hdf5File();
    Hdf5File(const Hdf5File&) = delete;
    Hdf5File& operator=(const Hdf5File&) = delete;

    const std::filesystem::path& path() const { return path_; }
    bool contains(const std::string& name) const;
    std::vector<std::string> members(const std::string& group) const;  // child names, sorted
    std::vector<int64_t> shape(const std::string& dataset) const;

    // float32, float64, (u)int8/16/32/64 and bool datasets, as tensors of the
    // matching dtype (unsigned 16/32/64 read as int64).
    torch::Tensor read(const std::string& dataset) const;
    // Every element of such a dataset as float64, in row-major order.
    std::vector<double> read_doubles(const std::string& dataset) const;
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
// `table` as the group `group` of equally long 1-D datasets, one per column
// (strings as variable-length strings, numbers as float64 or int64).
void write_column_table(Hdf5File& file, const std::string& group, const ColumnTable& table);

void write_hdf5_atomically(const std::filesystem::path& path, const std::function<void(Hdf5File&)>& write);

// What an output file records about how it was made, besides its contents.
struct OutputRecord {
    OutputRecord(std::string command_line, std::string settings_json = {})  // NOLINT: a command line is a record
        : command(std::move(command_line)), settings(std::move(settings_json)) {}
    OutputRecord(const char* command_line) : OutputRecord(std::string(command_line)) {}  // NOLINT: as above
    std::string command;   // the command line that wrote it (or what a host program says)
    std::string settings;  // JSON of the settings that made it (a study compares them on a rerun); may be empty
    double seconds = NAN;  // how long computing it took, when the writer knows (the compute_seconds attribute)
};

// The root attributes every cellscape output carries (docs/hdf5-schema.md):
// format, format_version, cellscape_version, command, created (UTC, ISO
// 8601), and settings and compute_seconds when the record has them.
void write_standard_attributes(Hdf5File& file, const std::string& format, int64_t format_version,
                               const OutputRecord& record);

// Throws Hdf5Error unless `file` is a cellscape file of `format` (naming what
// it is instead) whose format_version is between 1 and `newest_version`, the
// newest this build writes (a newer file may hold what this build misreads).
void require_format(const Hdf5File& file, const std::string& format, int64_t newest_version);

}  // namespace cellscape
