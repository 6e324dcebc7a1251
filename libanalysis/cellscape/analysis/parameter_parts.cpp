#include "cellscape/analysis/parameter_parts.hpp"

#include <map>

namespace cellscape {
namespace {

// The first `count` dot-separated components of `name` (all of them when it has fewer).
std::string leading_components(const std::string& name, std::size_t count) {
    std::size_t end = 0;
    for (std::size_t i = 0; i < count; ++i) {
        end = name.find('.', i == 0 ? 0 : end + 1);
        if (end == std::string::npos) return name;
    }
    return name.substr(0, end);
}

std::string component(const std::string& name, std::size_t index) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < index; ++i) {
        start = name.find('.', start);
        if (start == std::string::npos) return "";
        ++start;
    }
    return name.substr(start, name.find('.', start) - start);
}

}  // namespace

std::string part_of(const std::string& name, PartLevel level) {
    if (component(name, 0) != "cells") return leading_components(name, 1);
    if (level == PartLevel::cell) return leading_components(name, 2);
    // cells.<i>.ops.<k>.… is edge k; cells.<i>.preprocess0.… a preprocessing convolution.
    return leading_components(name, component(name, 2) == "ops" ? 4 : 3);
}

std::vector<ParameterPart> parameter_parts(const std::vector<std::pair<std::string, int64_t>>& parameters,
                                           PartLevel level) {
    std::vector<ParameterPart> parts;
    std::map<std::string, std::size_t> index;
    int64_t offset = 0;
    for (const auto& [name, size] : parameters) {
        const auto [found, added] = index.emplace(part_of(name, level), parts.size());
        if (added) parts.push_back({found->first, 0, {}});
        ParameterPart& part = parts[found->second];
        if (!part.ranges.empty() && part.ranges.back().first + part.ranges.back().second == offset)
            part.ranges.back().second += size;
        else
            part.ranges.emplace_back(offset, size);
        part.size += size;
        offset += size;
    }
    return parts;
}

}  // namespace cellscape
