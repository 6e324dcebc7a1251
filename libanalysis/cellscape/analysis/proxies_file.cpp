#include "cellscape/analysis/proxies_file.hpp"

#include <fmt/format.h>

#include <cmath>

#include "cellscape/util/error.hpp"

namespace cellscape {

void write_proxies_file(const std::filesystem::path& path, const ProxyScores& scores,
                        const ObjectiveProvenance& provenance, const OutputRecord& record) {
    write_hdf5_atomically(path, [&](Hdf5File& file) {
        write_standard_attributes(file, proxies_format, proxies_format_version, record);
        provenance.write_to(file);
        for (const auto& [proxy, score] : scores.scores) file.set_attribute("/", std::string(name_of(proxy)), score);
        for (const auto& [proxy, reason] : scores.refused)
            file.set_attribute("/", refusal_attribute(proxy), reason);
        file.set_attribute("/", proxies_file::layer_weights, scores.layer_weights);
        file.set_attribute("/", "seconds", scores.seconds);
    });
}

ProxiesFileValues read_proxies_file(const std::filesystem::path& path) {
    const Hdf5File file(path, Hdf5File::Mode::read);
    require_format(file, proxies_format, proxies_format_version);
    ProxiesFileValues values;
    values.format_version = file.int_attribute("/", "format_version");
    for (const auto& [name, proxy] : EnumNames<Proxy>::values) {
        if (file.has_attribute("/", refusal_attribute(proxy))) {
            values.refused.emplace_back(proxy, file.string_attribute("/", refusal_attribute(proxy)));
            continue;
        }
        const std::string attribute(name);
        if (!file.has_attribute("/", attribute)) continue;  // not asked for
        const double score = file.double_attribute("/", attribute);
        if (!std::isfinite(score) && values.format_version >= 2)
            throw Hdf5Error(fmt::format("{}: the proxy {} is {} without a reason recorded, which no cellscape writes: "
                                        "the file is damaged",
                                        path.string(), attribute, score));
        values.scores.emplace_back(proxy, score);
    }
    return values;
}

}  // namespace cellscape
