#include "cellscape/io/hdf5.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>

#include "cellscape/io/paths.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/memory.hpp"
#include "cellscape/util/version.hpp"

namespace cellscape {
namespace {

// HDF5 prints its error stack to stderr on every failed call unless told
// not to; our errors carry the message instead. Off while alive, and back to
// what it was (the host program's choice) afterwards.
class QuietHdf5 {
public:
    QuietHdf5() {
        H5Eget_auto2(H5E_DEFAULT, &function_, &data_);
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    }
    ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, function_, data_); }
    QuietHdf5(const QuietHdf5&) = delete;
    QuietHdf5& operator=(const QuietHdf5&) = delete;

private:
    H5E_auto2_t function_ = nullptr;
    void* data_ = nullptr;
};

// File access without HDF5's sieve buffer: a dataset's data goes to disk in
// its write call, so a full disk fails there, with an error we report. With
// the buffer, the data is written when the dataset closes; on a full disk
// that close fails in a destructor, and HDF5 1.10 later wrote from the
// freed buffer (a segmentation fault, seen with a file-size limit).
const H5::FileAccPropList& direct_writes() {
    static const H5::FileAccPropList access = [] {
        H5::FileAccPropList list;
        list.setSieveBufSize(0);
        return list;
    }();
    return access;
}

H5::PredType file_type_of(torch::ScalarType type) {
    switch (type) {
        case torch::kFloat32: return H5::PredType::NATIVE_FLOAT;
        case torch::kFloat64: return H5::PredType::NATIVE_DOUBLE;
        case torch::kInt64: return H5::PredType::NATIVE_INT64;
        case torch::kInt32: return H5::PredType::NATIVE_INT32;
        case torch::kInt16: return H5::PredType::NATIVE_INT16;
        case torch::kInt8: return H5::PredType::NATIVE_INT8;
        case torch::kUInt8: return H5::PredType::NATIVE_UINT8;
        case torch::kBool: return H5::PredType::NATIVE_UINT8;
        default: throw Error(fmt::format("internal: cannot store tensors of type {} in HDF5", c10::toString(type)));
    }
}

std::vector<hsize_t> dims_of(const torch::Tensor& tensor) {
    std::vector<hsize_t> dims;
    for (int64_t d : tensor.sizes()) dims.push_back(static_cast<hsize_t>(d));
    return dims;
}

std::string parent_of(const std::string& name) {
    const auto slash = name.rfind('/');
    return slash == std::string::npos ? "/" : name.substr(0, slash);
}

// Sizes declared in a file are claims to check before allocating anything
// for them: a damaged or crafted file may declare 10^12 values it does not
// hold. Unfiltered data must be stored in full (HDF5 would otherwise return
// fill values); any data must fit the memory this process may still use.
void check_declared_size(const H5::DataSet& data, const std::vector<int64_t>& dims, std::size_t memory_bytes_per_value,
                         const std::filesystem::path& path, const std::string& dataset) {
    const auto damaged = [&](const std::string& problem) {
        return Hdf5Error(fmt::format("{}: dataset '{}' {}; the file is damaged or was not written by cellscape",
                                     path.string(), dataset, problem));
    };
    const std::string shape = fmt::format("[{}]", fmt::join(dims, ", "));
    const std::size_t file_bytes_per_value = data.getDataType().getSize();
    const long double limit = static_cast<long double>(std::numeric_limits<int64_t>::max());
    long double values = 1;
    for (int64_t d : dims) values *= static_cast<long double>(d);
    if (values * static_cast<long double>(std::max(file_bytes_per_value, memory_bytes_per_value)) > limit)
        throw damaged(fmt::format("declares the shape {}, too large to exist", shape));
    const auto count = static_cast<int64_t>(values);
    const H5::DSetCreatPropList creation = data.getCreatePlist();
    const hsize_t stored = H5Dget_storage_size(data.getId());
    const auto declared = static_cast<hsize_t>(count) * file_bytes_per_value;
    if (H5Pget_nfilters(creation.getId()) == 0 && H5Pget_layout(creation.getId()) != H5D_COMPACT && stored < declared)
        throw damaged(fmt::format("declares the shape {} ({} bytes) but stores only {} bytes of it", shape, declared,
                                  stored));
    const auto needed = static_cast<int64_t>(count * static_cast<int64_t>(memory_bytes_per_value));
    const auto available = available_memory_bytes();
    if (available && needed > *available)
        throw Hdf5Error(fmt::format("{}: dataset '{}' has the shape {}, {:.1f} GiB to read, more than the {:.1f} GiB of "
                                    "memory available",
                                    path.string(), dataset, shape, static_cast<double>(needed) / (1 << 30),
                                    static_cast<double>(*available) / (1 << 30)));
}

}  // namespace

Hdf5File::Hdf5File(const std::filesystem::path& path, Mode mode) : path_(path) {
    const QuietHdf5 quiet;
    try {
        if (mode == Mode::create) {
            errno = 0;
            try {
                file_ = H5::H5File(path.string(), H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, direct_writes());
            } catch (const H5::Exception&) {
                // HDF5 says only "H5Fcreate failed"; the system call under it left the cause in errno.
                const int cause = errno;
                if (cause == 0) throw;
                throw Hdf5Error(fmt::format("cannot create {}: {}", path.string(),
                                            file_system_cause(cause)));
            }
            return;
        }
        if (!std::filesystem::exists(path)) throw Hdf5Error(fmt::format("{} does not exist", path.string()));
        if (std::filesystem::is_directory(path))
            throw Hdf5Error(fmt::format("{} is a directory, not an HDF5 file", path.string()));
        // A FIFO would block the read below forever; a device is no file of ours.
        if (!std::filesystem::is_regular_file(path))
            throw Hdf5Error(fmt::format("{} is {}, not a regular file: cellscape reads only regular files",
                                        path.string(), describe_file_type(path)));
        if (H5::H5File::isHdf5(path.string()) <= 0)
            throw Hdf5Error(fmt::format("{} is not an HDF5 file (or it is truncated or corrupt)", path.string()));
        file_ = H5::H5File(path.string(), mode == Mode::read ? H5F_ACC_RDONLY : H5F_ACC_RDWR,
                           H5::FileCreatPropList::DEFAULT, direct_writes());
    } catch (const H5::Exception& error) {
        throw Hdf5Error(fmt::format("cannot open {} as HDF5: {}", path.string(), error.getDetailMsg()));
    }
}

Hdf5File::~Hdf5File() {
    try {
        close();
    } catch (const Hdf5Error&) {  // a failed final flush: the file is incomplete, and whoever wrote it saw
    }                             // the error that stopped the writing
}

namespace {

// Why a write may have failed that HDF5 does not say: a (nearly) full disk,
// or a file grown to the process's file-size limit (ulimit -f, RLIMIT_FSIZE,
// whose writes fail with EFBIG once SIGXFSZ is ignored). "" when neither.
std::string write_failure_cause(const std::filesystem::path& path) {
    std::error_code error;
    const auto space = std::filesystem::space(path.parent_path().empty() ? "." : path.parent_path(), error);
    if (!error && space.available < (std::uintmax_t{16} << 20))
        return fmt::format(" (the disk holding it has {} KiB free)", space.available / 1024);
    const auto size = std::filesystem::file_size(path, error);
    const auto limit = file_size_limit();
    if (!error && limit && size + (std::uintmax_t{64} << 10) >= *limit)
        return fmt::format(" (the file reached this process's file-size limit of {} KiB (ulimit -f): raise the "
                           "limit or write where a larger file is allowed)",
                           *limit / 1024);
    return "";
}

}  // namespace

void Hdf5File::fail(const std::string& what, const std::string& object) const {
    throw Hdf5Error(fmt::format("{}: {} '{}'{}", path_.string(), what, object, write_failure_cause(path_)));
}

bool Hdf5File::contains(const std::string& name) const {
    const QuietHdf5 quiet;
    // Check each level: H5Lexists fails on a path whose parent is missing.
    std::string prefix;
    std::size_t start = name.front() == '/' ? 1 : 0;
    while (start <= name.size()) {
        std::size_t end = name.find('/', start);
        if (end == std::string::npos) end = name.size();
        prefix += "/" + name.substr(start, end - start);
        if (H5Lexists(file_.getId(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
        start = end + 1;
    }
    return true;
}

H5::Group Hdf5File::group(const std::string& name, bool create) const {
    if (name == "/" || name.empty()) return file_.openGroup("/");
    if (contains(name)) return file_.openGroup(name);
    if (!create) fail("has no group", name);
    H5::LinkCreatPropList links;
    links.setCreateIntermediateGroup(true);
    const hid_t id = H5Gcreate2(file_.getId(), name.c_str(), links.getId(), H5P_DEFAULT, H5P_DEFAULT);
    if (id < 0) fail("cannot create group", name);
    // H5::Group takes its own reference to the id; drop ours, or the file
    // would stay open inside the HDF5 library after close().
    H5::Group created(id);
    H5Gclose(id);
    return created;
}

std::vector<std::string> Hdf5File::members(const std::string& group_name) const {
    const QuietHdf5 quiet;
    try {
        const H5::Group g = group(group_name, false);
        std::vector<std::string> names;
        for (hsize_t i = 0; i < g.getNumObjs(); ++i) names.push_back(g.getObjnameByIdx(i));
        std::sort(names.begin(), names.end());
        return names;
    } catch (const H5::Exception&) {
        fail("cannot list group", group_name);
    }
}

std::vector<int64_t> Hdf5File::shape(const std::string& dataset) const {
    const QuietHdf5 quiet;
    if (!contains(dataset)) fail("has no dataset", dataset);
    try {
        const H5::DataSpace space = file_.openDataSet(dataset).getSpace();
        std::vector<hsize_t> dims(static_cast<std::size_t>(space.getSimpleExtentNdims()));
        space.getSimpleExtentDims(dims.data());
        for (hsize_t d : dims)
            if (d > static_cast<hsize_t>(std::numeric_limits<int64_t>::max())) fail("declares an impossible size in", dataset);
        return std::vector<int64_t>(dims.begin(), dims.end());
    } catch (const H5::Exception&) {
        fail("cannot read the shape of", dataset);
    }
}

torch::Tensor Hdf5File::read(const std::string& dataset) const {
    const QuietHdf5 quiet;
    const std::vector<int64_t> dims = shape(dataset);
    try {
        const H5::DataSet data = file_.openDataSet(dataset);
        const H5T_class_t type_class = data.getTypeClass();
        torch::ScalarType type;
        H5::PredType memory_type = H5::PredType::NATIVE_FLOAT;
        if (type_class == H5T_FLOAT) {
            const bool single = data.getFloatType().getSize() == 4;
            type = single ? torch::kFloat32 : torch::kFloat64;
            memory_type = single ? H5::PredType::NATIVE_FLOAT : H5::PredType::NATIVE_DOUBLE;
        } else if (type_class == H5T_INTEGER) {
            const H5::IntType int_type = data.getIntType();
            const std::size_t size = int_type.getSize();
            const bool is_signed = int_type.getSign() != H5T_SGN_NONE;
            if (size == 1 && !is_signed) {
                type = torch::kUInt8;
                memory_type = H5::PredType::NATIVE_UINT8;
            } else if (size == 1) {
                type = torch::kInt8;
                memory_type = H5::PredType::NATIVE_INT8;
            } else if (size <= 4 && is_signed) {
                type = torch::kInt32;
                memory_type = H5::PredType::NATIVE_INT32;
            } else {
                type = torch::kInt64;  // HDF5 converts (and range-checks) unsigned values
                memory_type = H5::PredType::NATIVE_INT64;
            }
        } else {
            fail("holds neither numbers nor integers in", dataset);
        }
        check_declared_size(data, dims, c10::elementSize(type), path_, dataset);
        torch::Tensor tensor = torch::empty(dims, torch::TensorOptions().dtype(type));
        if (tensor.numel() > 0) data.read(tensor.data_ptr(), memory_type);
        return tensor;
    } catch (const H5::Exception&) {
        fail("cannot read dataset", dataset);
    }
}

void Hdf5File::write(const std::string& dataset, const torch::Tensor& tensor) {
    const QuietHdf5 quiet;
    const torch::Tensor data = (tensor.scalar_type() == torch::kBool ? tensor.to(torch::kUInt8) : tensor)
                                   .to(torch::kCPU)
                                   .contiguous();
    try {
        const std::vector<hsize_t> dims = dims_of(data);
        const H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
        const H5::PredType type = file_type_of(data.scalar_type());
        H5::DataSet target;
        if (contains(dataset)) {
            target = file_.openDataSet(dataset);
            std::vector<hsize_t> existing(static_cast<std::size_t>(target.getSpace().getSimpleExtentNdims()));
            target.getSpace().getSimpleExtentDims(existing.data());
            if (existing != dims) fail("cannot overwrite with a different shape: dataset", dataset);
        } else {
            group(parent_of(dataset), true);
            target = file_.createDataSet(dataset, type, space);
        }
        if (data.numel() > 0) target.write(data.data_ptr(), type);
    } catch (const H5::Exception&) {
        fail("cannot write dataset", dataset);
    }
}

void Hdf5File::write_strings(const std::string& dataset, const std::vector<std::string>& values) {
    const QuietHdf5 quiet;
    try {
        if (contains(dataset)) fail("cannot overwrite string dataset", dataset);
        group(parent_of(dataset), true);
        H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
        type.setCset(H5T_CSET_UTF8);
        const hsize_t count = values.size();
        const H5::DataSpace space(1, &count);
        H5::DataSet target = file_.createDataSet(dataset, type, space);
        std::vector<const char*> pointers;
        for (const auto& value : values) pointers.push_back(value.c_str());
        if (!pointers.empty()) target.write(pointers.data(), type);
    } catch (const H5::Exception&) {
        fail("cannot write string dataset", dataset);
    }
}

std::vector<double> Hdf5File::read_doubles(const std::string& dataset) const {
    const torch::Tensor flat = read(dataset).to(torch::kFloat64).contiguous().reshape({-1});
    return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

std::vector<std::string> Hdf5File::read_strings(const std::string& dataset) const {
    const QuietHdf5 quiet;
    const std::vector<int64_t> dims = shape(dataset);
    try {
        const H5::DataSet data = file_.openDataSet(dataset);
        if (data.getTypeClass() != H5T_STRING || dims.size() != 1) fail("is not a list of strings:", dataset);
        H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
        type.setCset(H5T_CSET_UTF8);
        std::vector<char*> pointers(static_cast<std::size_t>(dims[0]), nullptr);
        if (!pointers.empty()) data.read(pointers.data(), type);
        std::vector<std::string> values(pointers.begin(), pointers.end());
        H5Dvlen_reclaim(type.getId(), data.getSpace().getId(), H5P_DEFAULT, pointers.data());
        return values;
    } catch (const H5::Exception&) {
        fail("cannot read string dataset", dataset);
    }
}

namespace {

// Calls `use` with the group or dataset called `name` (H5Object cannot be held by pointer).
template <typename Use>
auto with_object(const H5::H5File& file, const std::string& name, Use use) {
    if (name != "/" && !name.empty() && file.childObjType(name) == H5O_TYPE_DATASET) {
        H5::DataSet dataset = file.openDataSet(name);
        return use(static_cast<H5::H5Object&>(dataset));
    }
    H5::Group group = file.openGroup(name.empty() ? "/" : name);
    return use(static_cast<H5::H5Object&>(group));
}

}  // namespace

void Hdf5File::set_attribute(const std::string& object, const std::string& name, const std::string& value) {
    const QuietHdf5 quiet;
    try {
        with_object(file_, object, [&](H5::H5Object& target) {
            if (target.attrExists(name)) target.removeAttr(name);
            const H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
            type.setCset(H5T_CSET_UTF8);
            target.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value);
        });
    } catch (const H5::Exception&) {
        fail(fmt::format("cannot write attribute '{}' of", name), object);
    }
}

template <typename T>
void Hdf5File::write_scalar_attribute(const std::string& object, const std::string& name, const H5::PredType& type,
                                      T value) {
    const QuietHdf5 quiet;
    try {
        with_object(file_, object, [&](H5::H5Object& target) {
            if (target.attrExists(name)) target.removeAttr(name);
            target.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, &value);
        });
    } catch (const H5::Exception&) {
        fail(fmt::format("cannot write attribute '{}' of", name), object);
    }
}

void Hdf5File::set_attribute(const std::string& object, const std::string& name, int64_t value) {
    write_scalar_attribute(object, name, H5::PredType::NATIVE_INT64, value);
}

void Hdf5File::set_attribute(const std::string& object, const std::string& name, double value) {
    write_scalar_attribute(object, name, H5::PredType::NATIVE_DOUBLE, value);
}

bool Hdf5File::has_attribute(const std::string& object, const std::string& name) const {
    const QuietHdf5 quiet;
    try {
        return with_object(file_, object, [&](H5::H5Object& target) { return target.attrExists(name); });
    } catch (const H5::Exception&) {
        return false;
    }
}

std::string Hdf5File::string_attribute(const std::string& object, const std::string& name) const {
    const QuietHdf5 quiet;
    if (!has_attribute(object, name)) fail(fmt::format("has no attribute '{}' on", name), object);
    try {
        return with_object(file_, object, [&](H5::H5Object& target) {
            const H5::Attribute attribute = target.openAttribute(name);
            std::string value;
            attribute.read(attribute.getStrType(), value);
            return value;
        });
    } catch (const H5::Exception&) {
        fail(fmt::format("cannot read string attribute '{}' of", name), object);
    }
}

template <typename T>
T Hdf5File::read_scalar_attribute(const std::string& object, const std::string& name, const H5::PredType& type,
                                  const char* kind) const {
    const QuietHdf5 quiet;
    if (!has_attribute(object, name)) fail(fmt::format("has no attribute '{}' on", name), object);
    try {
        return with_object(file_, object, [&](H5::H5Object& target) {
            T value{};
            target.openAttribute(name).read(type, &value);
            return value;
        });
    } catch (const H5::Exception&) {
        fail(fmt::format("cannot read {} attribute '{}' of", kind, name), object);
    }
}

int64_t Hdf5File::int_attribute(const std::string& object, const std::string& name) const {
    return read_scalar_attribute<int64_t>(object, name, H5::PredType::NATIVE_INT64, "integer");
}

double Hdf5File::double_attribute(const std::string& object, const std::string& name) const {
    return read_scalar_attribute<double>(object, name, H5::PredType::NATIVE_DOUBLE, "number");
}

void Hdf5File::flush() {
    const QuietHdf5 quiet;
    try {
        file_.flush(H5F_SCOPE_GLOBAL);
    } catch (const H5::Exception&) {
        fail("cannot write to disk (is it full?):", "/");
    }
}

void Hdf5File::close() {
    // Exactly one H5Fclose per file. HDF5 releases the identifier even when
    // the close fails (its final flush on a full disk); H5::H5File keeps it
    // and closes it again in its destructor, which crashed HDF5 1.10. So the
    // C++ handle lets go of the file first, and the one close is ours.
    const QuietHdf5 quiet;
    const hid_t id = file_.getId();
    if (id < 0 || H5Iis_valid(id) <= 0) return;
    H5Iinc_ref(id);         // the handle's release below only drops this extra reference
    file_ = H5::H5File();   // an empty handle: nothing left to close
    if (H5Fclose(id) < 0) fail("cannot finish writing (is the disk full?):", "/");
}

void write_hdf5_atomically(const std::filesystem::path& path, const std::function<void(Hdf5File&)>& write) {
    const std::filesystem::path partial = path.string() + ".partial";
    try {
        Hdf5File file(partial, Hdf5File::Mode::create);
        write(file);
        file.close();
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(partial, ignored);
        throw;
    }
    std::error_code error;
    std::filesystem::rename(partial, path, error);
    if (error) {
        std::error_code ignored;
        std::filesystem::remove(partial, ignored);
        throw Hdf5Error(fmt::format("cannot move the finished {} onto {}: {}", partial.string(), path.string(),
                                    error.message()));
    }
}

void write_standard_attributes(Hdf5File& file, const std::string& format, int64_t format_version,
                               const OutputRecord& record) {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char created[32];
    std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    file.set_attribute("/", "format", format);
    file.set_attribute("/", "format_version", format_version);
    file.set_attribute("/", "cellscape_version", std::string(version));
    file.set_attribute("/", "command", record.command);
    if (!record.settings.empty()) file.set_attribute("/", "settings", record.settings);
    if (std::isfinite(record.seconds)) file.set_attribute("/", "compute_seconds", record.seconds);
    file.set_attribute("/", "created", std::string(created));
}

void require_format(const Hdf5File& file, const std::string& format, int64_t newest_version) {
    if (!file.has_attribute("/", "format"))
        throw Hdf5Error(fmt::format("{} is an HDF5 file but not a cellscape file (no 'format' attribute); expected a {}",
                                    file.path().string(), format));
    const std::string actual = file.string_attribute("/", "format");
    if (actual != format)
        throw Hdf5Error(fmt::format("{} is a {} file, not a {}", file.path().string(), actual, format));
    if (!file.has_attribute("/", "format_version"))
        throw Hdf5Error(fmt::format("{} is a {} file without its 'format_version': it is damaged; make it again",
                                    file.path().string(), format));
    const int64_t found = file.int_attribute("/", "format_version");
    if (found < 1)
        throw Hdf5Error(fmt::format("{} is a {} file of format version {}, which no cellscape writes: it is damaged; "
                                    "make it again",
                                    file.path().string(), format, found));
    if (found > newest_version)
        throw Hdf5Error(fmt::format("{} is a {} file of format version {}, newer than this cellscape {} reads (at most "
                                    "{}): read it with the cellscape that wrote it ({}) or a newer one",
                                    file.path().string(), format, found, version, newest_version,
                                    file.has_attribute("/", "cellscape_version")
                                        ? file.string_attribute("/", "cellscape_version")
                                        : std::string("its version is not recorded")));
}

void write_column_table(Hdf5File& file, const std::string& group, const ColumnTable& table) {
    file.create_group(group);
    for (const auto& [name, values] : table.columns)
        std::visit(
            [&, name = name](const auto& column) {
                using Value = typename std::decay_t<decltype(column)>::value_type;
                if constexpr (std::is_same_v<Value, std::string>)
                    file.write_strings(group + "/" + name, column);
                else
                    file.write(group + "/" + name,
                               torch::tensor(column, std::is_same_v<Value, double> ? torch::kFloat64 : torch::kInt64));
            },
            values);
}

}  // namespace cellscape
