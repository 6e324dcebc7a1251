#pragma once
// FNV-1a, 64 bit: a small, stable hash for provenance attributes (weights,
// sample indices). Not cryptographic; it identifies, it does not protect.
#include <cstddef>
#include <cstdint>
#include <string>

namespace cellscape {

class Fnv1a {
public:
    void add(const void* data, std::size_t bytes) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < bytes; ++i) state_ = (state_ ^ p[i]) * 1099511628211ULL;
    }
    void add(const std::string& text) { add(text.data(), text.size()); }
    std::string hex() const;  // "fnv1a64:0123456789abcdef"
    std::uint64_t value() const { return state_; }

private:
    std::uint64_t state_ = 1469598103934665603ULL;
};

}  // namespace cellscape
