#pragma once
// One writer per output. A process holds an OutputLock while it writes a
// training run's directory or a surface's partial file; a second process
// that asks for the same lock gets an Error naming the holder, instead of
// HDF5's "H5Fopen failed" or two runs writing over each other. The lock is
// the kernel's (flock on a small hidden file beside the output), so it goes
// away with its holder however that ends, kill -9 included.
#include <filesystem>
#include <string>

namespace cellscape {

class OutputLock {
public:
    // Locks `output` (a file or a directory, which need not exist yet); its
    // lock file is `.NAME.lock` in the same directory. `what` says in errors
    // what is being written ("the training run in out/train").
    OutputLock(const std::filesystem::path& output, const std::string& what);
    ~OutputLock();
    OutputLock(const OutputLock&) = delete;
    OutputLock& operator=(const OutputLock&) = delete;

private:
    int descriptor_ = -1;
};

// Where a process writes a file it renames onto `target` once complete,
// when other processes may write the same target at the same time (the
// replicates of one cell, on several nodes sharing the directory): a name
// no other one uses, "TARGET.HOST-PID.partial". Each rename is whole, and
// the last one stays.
std::filesystem::path private_partial_path(const std::filesystem::path& target);

}  // namespace cellscape
