#pragma once
// Text from the user as it can appear inside a one-line error message.
#include <cstddef>
#include <string>

namespace cellscape::tools {

// `text` with each control character as \xNN, and at most `limit`
// characters of it (then "...").
inline std::string printable(const std::string& text, std::size_t limit = 80) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 32 || c == 127) {
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 15];
        } else {
            out += text[i];
        }
    }
    if (text.size() > limit) out += "...";
    return out;
}

}  // namespace cellscape::tools
