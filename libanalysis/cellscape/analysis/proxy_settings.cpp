#include "cellscape/analysis/proxy_settings.hpp"

#include "cellscape/io/toml_table.hpp"

namespace cellscape {

void read_proxy_settings(TomlTable& table, ProxySettings& settings) {
    table.read("enabled", settings.enabled);
    table.read_names("proxies", settings.proxies);
    if (settings.proxies.empty())
        throw table.error("proxies", "lists no proxy; leave the key out for all, or set enabled = false");
    table.read("samples", settings.samples);
    table.read("zico_batches", settings.zico_batches);
    table.read_name("dtype", settings.dtype);
    table.reject_unknown_keys();
}

}  // namespace cellscape
