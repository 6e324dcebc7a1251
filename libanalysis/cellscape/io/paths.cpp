#include "cellscape/io/paths.hpp"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "cellscape/util/error.hpp"

namespace cellscape {
namespace fs = std::filesystem;
namespace {

// The longest file name (one path component) the file system holding
// `directory` accepts; 255 (NAME_MAX) when it cannot be asked.
std::size_t longest_name(const fs::path& directory) {
    const long longest = ::pathconf(directory.empty() ? "." : directory.c_str(), _PC_NAME_MAX);
    return longest > 0 ? static_cast<std::size_t>(longest) : std::size_t{NAME_MAX};
}

// Each component of `path` fits; `directory` is an existing directory whose
// file system decides (the same one for components still to be created, as
// far as anyone can know in advance).
void check_name_lengths(const fs::path& path, const fs::path& directory, const std::string& setting) {
    if (path.native().size() >= PATH_MAX)
        throw SettingError(setting, fmt::format("the path is {} characters long; paths may have at most {}: choose a "
                                                "shorter one",
                                                path.native().size(), PATH_MAX - 1));
    const std::size_t longest = longest_name(directory);
    for (const fs::path& part : path)
        if (part.native().size() > longest)
            throw SettingError(setting, fmt::format("the name '{}...' is {} characters long; the file system allows at "
                                                    "most {}: choose a shorter name",
                                                    part.native().substr(0, 20), part.native().size(), longest));
}

// The status of `path`, or a sentence when it cannot even be looked at
// (a name too long, a permission denied on the way).
fs::file_status status_of(const fs::path& path, const std::string& setting) {
    std::error_code error;
    const fs::file_status status = fs::status(path, error);
    if (error && error != std::errc::no_such_file_or_directory)
        throw SettingError(setting, fmt::format("cannot look at {}: {}", path.string(), file_system_cause(error)));
    return status;
}

std::string type_name(fs::file_type type) {
    switch (type) {
        case fs::file_type::regular: return "a regular file";
        case fs::file_type::directory: return "a directory";
        case fs::file_type::fifo: return "a FIFO (named pipe)";
        case fs::file_type::socket: return "a socket";
        case fs::file_type::block: return "a block device";
        case fs::file_type::character: return "a character device";
        case fs::file_type::not_found: return "nothing";
        default: return "a special file";
    }
}

// The directory `directory` can take new files: SettingError naming why not.
void check_writable_directory(const fs::path& directory, const std::string& setting) {
    if (::access(directory.c_str(), W_OK | X_OK) == 0) return;
    const int reason = errno;
    if (reason == EROFS)
        throw SettingError(setting, fmt::format("the file system holding {} is read-only: write elsewhere",
                                                directory.string()));
    throw SettingError(setting, fmt::format("cannot write in {}: {}", directory.string(),
                                            file_system_cause(reason)));
}

}  // namespace

std::string describe_file_type(const fs::path& path) {
    std::error_code error;
    return type_name(fs::status(path, error).type());
}

std::string file_system_cause(const std::error_code& error) {
    if (error == std::errc::no_space_on_device) return "the disk is full";
    if (error == std::errc::read_only_file_system) return "the file system is read-only";
    if (error == std::errc::filename_too_long) return "a name in it is too long for the file system";
    if (error == std::errc::not_a_directory) return "a part of the path is a file, not a directory";
    if (error == std::errc::is_a_directory) return "it is a directory";
    if (error == std::errc::permission_denied || error == std::errc::operation_not_permitted)
        return "permission denied";
    if (error == std::errc::no_such_file_or_directory) return "it (or a directory above it) does not exist";
    // A file-size limit (ulimit -f) fails writes with EFBIG, and copies made
    // with sendfile with EIO: both name the limit when one is set.
    const auto limit = file_size_limit();
    const bool size_limited = limit.has_value();
    const std::string size_limit =
        size_limited ? fmt::format("this process's file-size limit of {} KiB (ulimit -f)", *limit / 1024) : "";
    if (error == std::errc::file_too_large)
        return size_limited ? "the file reached " + size_limit
                            : "the file is larger than this process may write (a file-size limit, see ulimit -f)";
    if (error == std::errc::io_error)
        return size_limited ? "an input/output error, or the file reached " + size_limit
                            : "an input/output error (a failing disk or network file system)";
    if (error == std::errc::too_many_files_open) return "too many files are open";
    if (error.category() == std::generic_category() || error.category() == std::system_category()) {
        if (error.value() == EDQUOT) return "the disk quota is exceeded";
    }
    return error.message();
}

std::optional<std::uintmax_t> file_size_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
    return static_cast<std::uintmax_t>(limit.rlim_cur);
}

std::string file_system_cause(int error_number) {
    return file_system_cause(std::error_code(error_number ? error_number : EIO, std::generic_category()));
}

std::string file_system_sentence(const fs::filesystem_error& error) {
    // libstdc++ writes "filesystem error: OPERATION: MESSAGE [PATH1] [PATH2]".
    std::string operation = error.what();
    const std::string prefix = "filesystem error: ";
    if (operation.rfind(prefix, 0) == 0) operation.erase(0, prefix.size());
    const auto end = operation.find(": " + error.code().message());
    if (end != std::string::npos) operation.erase(end);
    if (operation.rfind("cannot ", 0) != 0) operation = "cannot access";  // "status", "directory iterator", ...
    std::string paths = error.path1().string();
    if (!error.path2().empty()) paths += " and " + error.path2().string();
    return fmt::format("{} {}: {}", operation, paths, file_system_cause(error.code()));
}

void check_input_file(const fs::path& path, const std::string& setting) {
    if (path.empty()) throw SettingError(setting, "is empty: name the file to read");
    const fs::file_status status = status_of(path, setting);
    if (status.type() == fs::file_type::not_found)
        throw SettingError(setting, fmt::format("{} does not exist", path.string()));
    if (status.type() == fs::file_type::directory)
        throw SettingError(setting, fmt::format("{} is a directory, not a file", path.string()));
    if (status.type() != fs::file_type::regular)
        throw SettingError(setting, fmt::format("{} is {}, not a regular file: cellscape reads only regular files",
                                                path.string(), type_name(status.type())));
    if (::access(path.c_str(), R_OK) != 0)
        throw SettingError(setting, fmt::format("cannot read {}: {}", path.string(),
                                                file_system_cause(errno)));
}

void check_output_file(const fs::path& path, bool overwrite, const std::string& setting) {
    if (path.empty()) throw SettingError(setting, "is empty: name the file to write");
    const fs::path directory = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    const fs::file_status directory_status = status_of(directory, setting);
    if (directory_status.type() == fs::file_type::not_found)
        throw SettingError(setting, fmt::format("the directory {} of {} does not exist: create it first",
                                                directory.string(), path.string()));
    if (directory_status.type() != fs::file_type::directory)
        throw SettingError(setting, fmt::format("{} is {}, not a directory, so {} cannot be written",
                                                directory.string(), type_name(directory_status.type()),
                                                path.string()));
    check_name_lengths(path, directory, setting);
    const fs::file_status status = status_of(path, setting);
    if (status.type() == fs::file_type::directory)
        throw SettingError(setting, fmt::format("{} is a directory: name a file in it, e.g. {}", path.string(),
                                                (path / "result.h5").string()));
    if (status.type() != fs::file_type::not_found && status.type() != fs::file_type::regular)
        throw SettingError(setting, fmt::format("{} is {}: cellscape replaces only regular files, even where "
                                                "overwriting is allowed",
                                                path.string(), type_name(status.type())));
    if (status.type() == fs::file_type::regular && !overwrite)
        throw SettingError(setting, fmt::format("{} already exists: name another file, or allow overwriting it",
                                                path.string()));
    check_writable_directory(directory, setting);
}

void prepare_output_directory(const fs::path& path, const std::string& setting) {
    if (path.empty()) throw SettingError(setting, "is empty: name the directory to write");
    check_name_lengths(path, ".", setting);  // before looking at the path: too long a name is not "not found"
    // The nearest existing ancestor decides: its file system, its writability.
    fs::path existing = fs::absolute(path);
    while (status_of(existing, setting).type() == fs::file_type::not_found && existing.has_relative_path())
        existing = existing.parent_path();
    const fs::file_type type = status_of(existing, setting).type();
    if (type != fs::file_type::directory) {
        if (existing == fs::absolute(path))
            throw SettingError(setting, fmt::format("{} is {}, not a directory: name a directory (it is created if "
                                                    "missing)",
                                                    path.string(), type_name(type)));
        throw SettingError(setting, fmt::format("{} is {}, not a directory, so {} cannot be created",
                                                existing.string(), type_name(type), path.string()));
    }
    check_name_lengths(path, existing, setting);
    check_writable_directory(existing, setting);
    std::error_code error;
    fs::create_directories(path, error);
    if (error)
        throw SettingError(setting, fmt::format("cannot create {}: {}", path.string(), file_system_cause(error)));
}

void check_free_space(const fs::path& directory, double bytes, const std::string& what, const std::string& setting) {
    std::error_code error;
    const fs::space_info space = fs::space(directory.empty() ? fs::path(".") : directory, error);
    if (error) return;  // a file system that cannot say: the writes will tell
    if (static_cast<double>(space.available) < bytes)
        throw SettingError(setting, fmt::format("{} take about {:.1f} MiB, but the disk holding {} has {:.1f} MiB "
                                                "free: free some space or write elsewhere",
                                                what, bytes / (1 << 20), directory.string(),
                                                static_cast<double>(space.available) / (1 << 20)));
}

void check_output_is_not_an_input(const fs::path& output, const NamedInputs& inputs, const std::string& setting) {
    std::error_code error;
    const fs::path resolved_output = fs::weakly_canonical(output, error);
    for (const auto& [input, input_setting] : inputs) {
        if (input.empty()) continue;
        std::error_code same_error, resolve_error;
        const bool same_file = fs::equivalent(output, input, same_error);
        const fs::path resolved_input = fs::weakly_canonical(input, resolve_error);
        const bool same_path = !error && !resolve_error && resolved_output == resolved_input;
        if ((!same_error && same_file) || same_path)
            throw SettingError(setting, fmt::format("{} is this command's own input ({} as {}): the result would "
                                                    "replace it; write the result to another file",
                                                    output.string(), input.string(), input_setting));
    }
}

}  // namespace cellscape
