#include "cellscape/io/output_lock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cellscape/util/error.hpp"

namespace cellscape {

OutputLock::OutputLock(const std::filesystem::path& output, const std::string& what) {
    const std::filesystem::path absolute = std::filesystem::absolute(output);
    const std::filesystem::path directory = absolute.has_filename() ? absolute.parent_path()
                                                                    : absolute.parent_path().parent_path();
    const std::string name = absolute.has_filename() ? absolute.filename().string()
                                                     : absolute.parent_path().filename().string();
    std::filesystem::create_directories(directory);
    const std::filesystem::path lock_file = directory / ("." + name + ".lock");
    descriptor_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (descriptor_ < 0)
        throw Error(fmt::format("cannot create the lock file {} for {}: {}", lock_file.string(), what,
                                std::strerror(errno)));
    if (::flock(descriptor_, LOCK_EX | LOCK_NB) != 0) {
        const int reason = errno;
        char holder[32] = {};
        const ssize_t length = ::pread(descriptor_, holder, sizeof holder - 1, 0);
        ::close(descriptor_);
        descriptor_ = -1;
        if (reason == EWOULDBLOCK)
            throw Error(fmt::format("{} is being written by another cellscape process{}; wait for it to finish, or "
                                    "write elsewhere",
                                    what, length > 0 ? fmt::format(" (pid {})", std::string(holder, length)) : ""));
        throw Error(fmt::format("cannot lock {} for {}: {}", lock_file.string(), what, std::strerror(reason)));
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(descriptor_, 0) == 0) (void)!::pwrite(descriptor_, pid.data(), pid.size(), 0);
}

OutputLock::~OutputLock() {
    if (descriptor_ >= 0) ::close(descriptor_);  // closing releases the lock
}

std::filesystem::path private_partial_path(const std::filesystem::path& target) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return target.string() + fmt::format(".{}-{}.partial", host[0] ? host : "host", ::getpid());
}

}  // namespace cellscape
