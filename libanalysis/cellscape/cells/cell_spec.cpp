#include "cellscape/cells/cell_spec.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

#include "cellscape/cells/metrics.hpp"
#include "cellscape/cells/sampling.hpp"
#include "cellscape/cells/zoo.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/seed.hpp"

namespace cellscape {
namespace {

std::string zoo_names() {
    std::string names;
    for (const auto& entry : genotype_zoo()) names += (names.empty() ? "" : ", ") + entry.name;
    return names;
}

// "count=3,seed=1" -> {count: 3, seed: 1}; only the keys in `allowed`.
std::map<std::string, std::string> parse_options(const std::string& text, const std::string& spec,
                                                 std::initializer_list<const char*> allowed) {
    std::map<std::string, std::string> options;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
        if (item.empty()) continue;
        const auto equals = item.find('=');
        const std::string key = item.substr(0, equals);
        bool known = false;
        for (const char* candidate : allowed) known = known || key == candidate;
        if (equals == std::string::npos || !known)
            throw Error(fmt::format("cell spec '{}': option '{}' is not understood; use {} as key=value, "
                                    "separated by commas",
                                    spec, item, fmt::join(allowed, ", ")));
        if (options.count(key))
            throw Error(fmt::format("cell spec '{}': option '{}' is given twice; give each option once", spec, key));
        options[key] = item.substr(equals + 1);
    }
    return options;
}

std::uint64_t option_number(const std::map<std::string, std::string>& options, const std::string& key,
                            std::uint64_t fallback, const std::string& spec) {
    const auto found = options.find(key);
    if (found == options.end()) return fallback;
    const std::string& value = found->second;
    if (value.empty() || value.size() > 19 || value.find_first_not_of("0123456789") != std::string::npos)
        throw Error(fmt::format("cell spec '{}': {}={} is not a non-negative integer", spec, key, value));
    return std::stoull(value);
}

// seed=S by util/seed.hpp's rule (0 when absent), the one rule of every seed.
std::uint64_t option_seed(const std::map<std::string, std::string>& options, const std::string& spec) {
    const auto found = options.find("seed");
    if (found == options.end()) return 0;
    const auto seed = parse_seed(found->second);
    if (!seed) throw Error(fmt::format("cell spec '{}': seed={} is not a seed; {}", spec, found->second, seed_rule()));
    return *seed;
}

int option_count(const std::map<std::string, std::string>& options, const std::string& key, int fallback,
                 const std::string& spec) {
    const auto value = option_number(options, key, static_cast<std::uint64_t>(fallback), spec);
    if (value < 1 || value > 100000)
        throw Error(fmt::format("cell spec '{}': {} must be between 1 and 100000", spec, key));
    return static_cast<int>(value);
}

std::vector<NamedGenotype> read_cell_file(const std::string& path, const std::string& spec) {
    if (!std::filesystem::is_regular_file(path))
        throw Error(fmt::format("cell spec '{}': the file {} does not exist or is not a regular file", spec, path));
    std::ifstream file(path);
    std::stringstream contents;
    contents << file.rdbuf();
    if (!file) throw Error(fmt::format("cell spec '{}': could not read {}", spec, path));
    const std::string text = contents.str();
    const std::string stem = std::filesystem::path(path).stem().string();
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '{') {
        auto parsed = parse_genotype_json(text);
        return {{parsed.name.value_or(stem), parsed.genotype}};
    }
    return parse_genotype_list(text, path, stem);
}

std::vector<NamedGenotype> resolve_random(const std::string& options_text, const std::string& spec) {
    const auto options = parse_options(options_text, spec, {"count", "seed", "nodes"});
    const int count = option_count(options, "count", 1, spec);
    const std::uint64_t seed = option_seed(options, spec);
    const int nodes = option_count(options, "nodes", 4, spec);
    std::vector<NamedGenotype> cells;
    const auto genotypes = sample_genotypes(count, seed, nodes);
    for (std::size_t i = 0; i < genotypes.size(); ++i)
        cells.push_back({fmt::format("random-s{}-{}", seed, i), genotypes[i]});
    return cells;
}

// A width option ("2", "2.5c"): a multiple of 0.5.
std::optional<double> option_width(const std::map<std::string, std::string>& options, const std::string& key,
                                   const std::string& spec) {
    const auto found = options.find(key);
    if (found == options.end()) return std::nullopt;
    std::string text = found->second;
    if (!text.empty() && text.back() == 'c') text.pop_back();
    double value = NAN;
    std::size_t used = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (text.empty() || used != text.size() || !(value > 0) || value > 1000 || std::round(2 * value) != 2 * value)
        throw Error(fmt::format("cell spec '{}': {}={} is not a width in steps of 0.5c (e.g. 2 or 2.5)", spec, key,
                                found->second));
    return value;
}

// BASE:stratified-connections:per_width=N,seed=S[,min_width=..][,max_width=..][,cells=normal]
std::vector<NamedGenotype> resolve_stratified(const NamedGenotype& base, const std::string& options_text,
                                              const std::string& spec) {
    const auto options = parse_options(options_text, spec, {"per_width", "seed", "min_width", "max_width", "cells"});
    if (options.count("cells") && options.at("cells") != "normal")
        throw Error(fmt::format("cell spec '{}': cells={} is not possible here: stratified-connections rewires the "
                                "normal cell only (its width is what it stratifies); leave cells out",
                                spec, options.at("cells")));
    const int per_width = option_count(options, "per_width", 1, spec);
    const std::uint64_t seed = option_seed(options, spec);
    const std::vector<double> reachable = reachable_normal_widths(base.genotype);
    const double low = option_width(options, "min_width", spec).value_or(reachable.front());
    const double high = option_width(options, "max_width", spec).value_or(reachable.back());
    if (low > high)
        throw Error(fmt::format("cell spec '{}': min_width={} is above max_width={}", spec, format_width(low),
                                format_width(high)));
    std::vector<double> widths;
    for (double width = low; width <= high + 1e-9; width += 0.5) widths.push_back(width);
    std::vector<WidthVariant> variants;
    try {
        variants = stratified_connection_variants(base.genotype, per_width, seed, widths);
    } catch (const SettingError& error) {
        throw Error(fmt::format("cell spec '{}': {} {}", spec, error.setting() == "widths" ? "width" : error.setting(),
                                error.problem()));
    }
    std::vector<NamedGenotype> cells;
    std::map<double, int> numbers;
    for (auto& variant : variants)
        cells.push_back({fmt::format("{}-stratified-s{}-{}-{}", base.name, seed, format_width(variant.width),
                                     numbers[variant.width]++),
                         std::move(variant.genotype)});
    return cells;
}

std::vector<NamedGenotype> resolve_variant(const NamedGenotype& base, const std::string& kind_name,
                                           const std::string& options_text, const std::string& spec) {
    if (kind_name == "stratified-connections") return resolve_stratified(base, options_text, spec);
    const auto kind = variant_kind_from_name(kind_name);
    if (!kind)
        throw Error(fmt::format("cell spec '{}': unknown variant kind '{}' (use widest, chain, "
                                "random-connections, random-ops or stratified-connections)",
                                spec, kind_name));
    const auto options = parse_options(options_text, spec, {"count", "seed", "cells"});
    const int count = option_count(options, "count", 1, spec);
    const std::uint64_t seed = option_seed(options, spec);
    // The normal cell is what a width or depth study varies; rewiring the
    // reduction cell too would change two cells at once.
    const std::string target_name = options.count("cells") ? options.at("cells") : "normal";
    const auto target = variant_target_from_name(target_name);
    if (!target) throw Error(fmt::format("cell spec '{}': cells={} must be normal, reduce or both", spec, target_name));
    return named_variants(base, *kind, count, seed, *target);
}

}  // namespace

std::vector<NamedGenotype> named_variants(const NamedGenotype& base, VariantKind kind, int count,
                                          std::uint64_t seed, VariantTarget target) {
    const auto variants = make_variants(base.genotype, kind, count, seed, target);
    std::string prefix = fmt::format("{}-{}", base.name, variant_kind_name(kind));
    if (target != VariantTarget::both) prefix += "-" + variant_target_name(target);
    const bool numbered = kind == VariantKind::random_connections || kind == VariantKind::random_operations;
    std::vector<NamedGenotype> cells;
    for (std::size_t i = 0; i < variants.size(); ++i)
        cells.push_back({numbered ? fmt::format("{}-s{}-{}", prefix, seed, i) : prefix, variants[i]});
    return cells;
}

std::vector<NamedGenotype> resolve_cells(const std::string& spec) {
    const auto first = spec.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) throw Error("the cell is empty: give a zoo name, genotype text or @FILE");
    if (spec[first] == '@') return read_cell_file(spec.substr(first + 1), spec);
    if (spec[first] == '{') {
        auto parsed = parse_genotype_json(spec);
        return {{parsed.name.value_or("custom"), parsed.genotype}};
    }
    if (spec.find("Genotype") != std::string::npos) {
        auto parsed = parse_genotype_text(spec);
        return {{parsed.name.value_or("custom"), parsed.genotype}};
    }

    // NAME[:KIND[:OPTIONS]] or random[:OPTIONS]
    const auto colon = spec.find(':');
    const std::string base_name = spec.substr(0, colon);
    const std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
    if (base_name == "random") return resolve_random(rest, spec);

    const auto base = find_in_zoo(base_name);
    if (!base)
        throw Error(fmt::format("'{}' is not a zoo cell ({}), genotype text, JSON or @FILE",
                                base_name.substr(0, 200), zoo_names()));
    if (colon == std::string::npos) return {*base};
    const auto second = rest.find(':');
    return resolve_variant(*base, rest.substr(0, second), second == std::string::npos ? "" : rest.substr(second + 1),
                           spec);
}

namespace {

// A zoo cell spec's parts: BASE[:KIND[:OPTIONS]]; nullopt for the other forms.
struct VariantSpec {
    std::string base, kind, options;
};
std::optional<VariantSpec> split_variant_spec(const std::string& spec) {
    const auto first = spec.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || spec[first] == '@' || spec[first] == '{' ||
        spec.find("Genotype") != std::string::npos)
        return std::nullopt;
    const auto colon = spec.find(':');
    VariantSpec parts{spec.substr(0, colon), "", ""};
    if (colon == std::string::npos) return parts;
    const std::string rest = spec.substr(colon + 1);
    const auto second = rest.find(':');
    parts.kind = rest.substr(0, second);
    if (second != std::string::npos) parts.options = rest.substr(second + 1);
    return parts;
}

}  // namespace

std::string cell_population(const std::string& spec) {
    const auto parts = split_variant_spec(spec);
    if (!parts) return "custom";
    if (parts->base == "random") return "random";
    if (parts->kind.empty() || parts->kind == "stratified-connections") return "normal-connections";
    if (parts->kind == "random-ops") return "operations";
    const auto options = parse_options(parts->options, spec, {"count", "seed", "cells"});
    const std::string target = options.count("cells") ? options.at("cells") : "normal";
    return target + "-connections";
}

std::optional<std::string> former_default_spec(const std::string& spec) {
    const auto parts = split_variant_spec(spec);
    if (!parts || parts->base == "random" || !variant_kind_from_name(parts->kind)) return std::nullopt;
    const auto options = parse_options(parts->options, spec, {"count", "seed", "cells"});
    if (options.count("cells")) return std::nullopt;
    return fmt::format("{}:{}:{}{}cells=both", parts->base, parts->kind, parts->options,
                       parts->options.empty() ? "" : ",");
}

NamedGenotype resolve_cell(const std::string& spec) {
    auto cells = resolve_cells(spec);
    if (cells.size() != 1)
        throw Error(fmt::format("'{}' names {} cells where one is expected; drop count= or pick one", spec,
                                cells.size()));
    return cells.front();
}

}  // namespace cellscape
