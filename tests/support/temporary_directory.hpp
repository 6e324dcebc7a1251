#pragma once
// A fresh directory under the system temp dir, removed with everything in it
// when the test ends.
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace cellscape::testing {

class TemporaryDirectory {
public:
    TemporaryDirectory() {
        std::random_device entropy;
        path_ = std::filesystem::temp_directory_path() /
                ("cellscape-test-" + std::to_string(entropy()) + "-" + std::to_string(entropy()));
        std::filesystem::create_directories(path_);
    }
    ~TemporaryDirectory() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

    // Writes `contents` to a file in the directory and returns its path.
    std::filesystem::path write(const std::string& name, const std::string& contents) const {
        const auto file = path_ / name;
        std::ofstream(file, std::ios::binary) << contents;
        return file;
    }

private:
    std::filesystem::path path_;
};

}  // namespace cellscape::testing
