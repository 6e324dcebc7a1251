#pragma once
// What cellscape may do with a path a user gave: the one policy for every
// command's inputs and outputs (docs/reliability.md).
//
// - Inputs are regular files: a directory, a FIFO (which would block the
//   read forever), a socket or a device is refused before it is opened.
// - An output is a regular file or a directory cellscape creates. An existing
//   output is replaced only when the caller allows it, and only if
//   it is a regular file: a FIFO, a device or a directory is never replaced.
// - An output is never one of the command's inputs, compared by file
//   identity (device and inode) and by resolved path, whether or not
//   overwriting is allowed.
// - Names too long for the file system, a directory that is a file, a
//   read-only or unwritable directory are found before any work, and every
//   file-system failure is a sentence naming the path and the cause.
//
// The errors are SettingError naming `setting`, the library's name for the
// option (the command line puts the user's spelling in front).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace cellscape {

// "a FIFO (named pipe)", "a directory", "a character device", ... for what
// is at `path`, or "a regular file"; "nothing" when it does not exist.
std::string describe_file_type(const std::filesystem::path& path);

// The cause of a failed file-system call as the user should read it: "the
// disk is full", "the file system is read-only", "the name is too long for
// the file system", "a part of the path is a file, not a directory", ...
std::string file_system_cause(const std::error_code& error);
// The same for an errno value (0 is read as EIO: a failure that left none).
std::string file_system_cause(int error_number);

// This process's file-size limit in bytes (ulimit -f, RLIMIT_FSIZE), when one is set.
std::optional<std::uintmax_t> file_size_limit();

// One sentence for a failed file-system operation: "cannot create
// out/run: the file system is read-only".
std::string file_system_sentence(const std::filesystem::filesystem_error& error);

// A file the command reads: it exists, is a regular file and is readable.
void check_input_file(const std::filesystem::path& path, const std::string& setting);

// Before work that ends in writing the file `path`: its name fits the file
// system, its directory exists and is writable, and it does not exist
// unless `overwrite` (then it must be a regular file).
void check_output_file(const std::filesystem::path& path, bool overwrite, const std::string& setting);

// Before work that writes into the directory `path` (created if missing,
// with its parents): not an existing non-directory, names that fit, and the
// nearest existing ancestor writable. Creates it; errors as sentences.
void prepare_output_directory(const std::filesystem::path& path, const std::string& setting);

// Before long work that will write about `bytes` into `directory`:
// SettingError naming `setting` when its file system has less free space,
// saying how much `what` ("the run's 3 checkpoints") needs.
void check_free_space(const std::filesystem::path& directory, double bytes, const std::string& what,
                      const std::string& setting);

// A command's inputs, each with the setting that named it.
using NamedInputs = std::vector<std::pair<std::filesystem::path, std::string>>;

// SettingError naming `setting` when `output` is (or would replace) one of
// `inputs`: the same file (device and inode, hard links included) or the
// same resolved path. Inputs that do not exist are skipped.
void check_output_is_not_an_input(const std::filesystem::path& output, const NamedInputs& inputs,
                                  const std::string& setting);

}  // namespace cellscape
