#pragma once
// The project's error types. Their messages are written for the user: they
// name the problem and, where there is one, the fix. The command-line front
// end prints them to stderr and exits non-zero.
#include <stdexcept>
#include <string>

namespace cellscape {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A setting that cannot take the value it was given. `setting` is the name
// of the field in the library's options (e.g. "batch_size"); `problem` says
// what is wrong and what would do, without naming how the user spelled the
// setting: the command line puts the flag in front of it (the batch-size
// flag), the study's TOML loader the key ("[analysis.hessian] batch_size:
// ..."). what() is "batch_size: " followed by the problem.
class SettingError : public Error {
public:
    SettingError(std::string setting, std::string problem)
        : Error(setting + ": " + problem), setting_(std::move(setting)), problem_(std::move(problem)) {}
    const std::string& setting() const { return setting_; }
    const std::string& problem() const { return problem_; }

private:
    std::string setting_, problem_;
};

}  // namespace cellscape
