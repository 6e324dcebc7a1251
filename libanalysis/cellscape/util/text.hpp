#pragma once
// Splitting text into fields.
#include <string>
#include <string_view>
#include <vector>

namespace cellscape {

// Every field of `text` between `separator`s, empty ones included; at least
// one ("" gives {""}), so that a caller that names each field refuses an
// empty one rather than seeing no field at all.
inline std::vector<std::string> split_fields(std::string_view text, char separator) {
    std::vector<std::string> fields;
    for (std::size_t start = 0;;) {
        const std::size_t end = text.find(separator, start);
        fields.emplace_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return fields;
        start = end + 1;
    }
}

}  // namespace cellscape
