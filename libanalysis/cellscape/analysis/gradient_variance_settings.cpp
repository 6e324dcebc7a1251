#include "cellscape/analysis/gradient_variance_settings.hpp"

#include "cellscape/io/toml_table.hpp"

namespace cellscape {

void read_gradient_variance_settings(TomlTable& table, GradientVarianceSettings& settings) {
    table.read("enabled", settings.enabled);
    table.read("batches", settings.batches);
    table.read("batch_size", settings.batch_size);
    table.read_name("bn", settings.bn);
    table.read_name("by_part", settings.parts);
    table.reject_unknown_keys();
}

}  // namespace cellscape
