#pragma once
// The proxies file (docs/hdf5-schema.md, "cellscape proxies"): its format
// name and version, the attributes a score and a refusal are kept in, the
// writer and the typed reader, side by side. The proxies command and the
// study write it; the study's tables and the tests read it through this header.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cellscape/analysis/proxies.hpp"
#include "cellscape/io/hdf5.hpp"

namespace cellscape {

inline constexpr const char* proxies_format = "cellscape-proxies";
// 2: a proxy that could not be computed is recorded as refused, with the reason.
inline constexpr int64_t proxies_format_version = 2;

// A proxy's score is the root attribute named as the proxy ("synflow");
// a proxy without a value has, in its place, the attribute with the
// refusal suffix ("jacob_cov_refused") that says why.
namespace proxies_file {
inline constexpr const char* refusal_suffix = "_refused";
inline constexpr const char* layer_weights = "layer_weights";  // attribute: parameters counted as layer weights
}  // namespace proxies_file
inline std::string refusal_attribute(Proxy proxy) { return std::string(name_of(proxy)) + proxies_file::refusal_suffix; }

void write_proxies_file(const std::filesystem::path& path, const ProxyScores& scores,
                        const ObjectiveProvenance& provenance, const OutputRecord& record);

// What a study reads back from a proxies file.
struct ProxiesFileValues {
    int64_t format_version = 0;
    std::vector<std::pair<Proxy, double>> scores;         // the proxies with a value, in EnumNames' order
    std::vector<std::pair<Proxy, std::string>> refused;  // the proxies without one, with why
};

// Opens `path` as a proxies file of a version this build reads (Hdf5Error
// naming the file and both versions otherwise) and reads its scores. A
// proxy that is not finite without a recorded reason, which no cellscape
// since format 2 writes, is an Hdf5Error naming the file and the proxy (a
// damaged file); format 1 wrote what it computed, NaN included, and is read
// as it is.
ProxiesFileValues read_proxies_file(const std::filesystem::path& path);

}  // namespace cellscape
