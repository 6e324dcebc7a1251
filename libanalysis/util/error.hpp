#pragma once
// The one project error type. Its message is written for the user: it names
// the problem and, where there is one, the fix. The command-line front end
// prints it to stderr and exits non-zero.
#include <stdexcept>
#include <string>

namespace cellscape {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace cellscape
