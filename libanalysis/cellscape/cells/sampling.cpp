#include "cellscape/cells/sampling.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cellscape/cells/metrics.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/random.hpp"

namespace cellscape {
namespace {

Operation random_operation(SeededRandom& random) {
    return sampled_operations[random.below(sampled_operations.size())];
}

Cell sample_cell(SeededRandom& random, int nodes) {
    Cell cell;
    for (int node = 2; node < nodes + 2; ++node) {
        // Two distinct earlier nodes: the second draw skips over the first.
        const int first = static_cast<int>(random.below(static_cast<std::uint64_t>(node)));
        int second = static_cast<int>(random.below(static_cast<std::uint64_t>(node - 1)));
        if (second >= first) ++second;
        cell.edges.push_back({random_operation(random), first});
        cell.edges.push_back({random_operation(random), second});
        cell.concat.push_back(node);
    }
    return cell;
}

Cell rewire(const Cell& cell, VariantKind kind, SeededRandom& random) {
    Cell out = cell;
    for (std::size_t k = 0; k < out.edges.size(); ++k) {
        const int node = static_cast<int>(k / 2) + 2;
        const bool first_edge = k % 2 == 0;
        Edge& edge = out.edges[k];
        switch (kind) {
            case VariantKind::widest: edge.source = first_edge ? 0 : 1; break;
            case VariantKind::chain: edge.source = node == 2 ? (first_edge ? 0 : 1) : node - 1; break;
            case VariantKind::random_connections:
                edge.source = static_cast<int>(random.below(static_cast<std::uint64_t>(node)));
                break;
            case VariantKind::random_operations: edge.op = random_operation(random); break;
        }
    }
    return out;
}

}  // namespace

std::vector<Genotype> sample_genotypes(int count, std::uint64_t seed, int nodes) {
    if (count < 1 || count > most_sampled_cells)
        throw SettingError("count", fmt::format("must be between 1 and {} (got {})", most_sampled_cells, count));
    if (nodes < 1 || nodes > 32) throw SettingError("nodes", fmt::format("must be between 1 and 32 (got {})", nodes));
    SeededRandom random(seed);
    std::vector<Genotype> genotypes;
    for (int i = 0; i < count; ++i) {
        Genotype genotype;
        genotype.normal = sample_cell(random, nodes);
        genotype.reduce = sample_cell(random, nodes);
        genotypes.push_back(genotype);
    }
    return genotypes;
}

std::string variant_kind_name(VariantKind kind) { return std::string(name_of(kind)); }

std::optional<VariantKind> variant_kind_from_name(const std::string& name) { return find_name<VariantKind>(name); }

std::string variant_target_name(VariantTarget target) { return std::string(name_of(target)); }

std::optional<VariantTarget> variant_target_from_name(const std::string& name) {
    return find_name<VariantTarget>(name);
}

std::vector<Genotype> make_variants(const Genotype& base, VariantKind kind, int count, std::uint64_t seed,
                                    VariantTarget target) {
    validate_genotype(base);
    if (count < 1 || count > most_sampled_cells)
        throw SettingError("count", fmt::format("must be between 1 and {} (got {})", most_sampled_cells, count));
    const bool deterministic = kind == VariantKind::widest || kind == VariantKind::chain;
    if (deterministic) count = 1;
    SeededRandom random(seed);
    std::vector<Genotype> variants;
    for (int i = 0; i < count; ++i) {
        Genotype variant = base;
        if (target != VariantTarget::reduce) variant.normal = rewire(base.normal, kind, random);
        if (target != VariantTarget::normal) variant.reduce = rewire(base.reduce, kind, random);
        variants.push_back(variant);
    }
    return variants;
}

std::vector<double> reachable_normal_widths(const Genotype& base) {
    std::vector<double> widths;
    const auto nodes = static_cast<int>(base.normal.edges.size() / 2);
    for (int half = 2; half <= 2 * nodes; ++half) widths.push_back(0.5 * half);
    return widths;
}

std::vector<WidthVariant> stratified_connection_variants(const Genotype& base, int per_width, std::uint64_t seed,
                                                         const std::vector<double>& widths, int64_t max_draws) {
    validate_genotype(base);
    if (per_width < 1 || per_width > most_sampled_cells)
        throw SettingError("per_width",
                           fmt::format("must be between 1 and {} (got {})", most_sampled_cells, per_width));
    const std::vector<double> reachable = reachable_normal_widths(base);
    if (widths.empty()) throw SettingError("widths", "is empty: give at least one width");
    for (double width : widths)
        if (std::find(reachable.begin(), reachable.end(), width) == reachable.end())
            throw SettingError("widths", fmt::format("{} is not reachable by rewiring this normal cell: random "
                                                     "connections give {} to {} in steps of 0.5c",
                                                     format_width(width), format_width(reachable.front()),
                                                     format_width(reachable.back())));
    std::vector<std::vector<Genotype>> groups(widths.size());
    SeededRandom random(seed);
    std::size_t full = 0;
    for (int64_t draw = 0; draw < max_draws && full < widths.size(); ++draw) {
        Genotype variant = base;
        variant.normal = rewire(base.normal, VariantKind::random_connections, random);
        const double width = cell_metrics(variant.normal, CellType::normal).width;
        const auto group = static_cast<std::size_t>(std::find(widths.begin(), widths.end(), width) - widths.begin());
        if (group == widths.size() || groups[group].size() >= static_cast<std::size_t>(per_width)) continue;
        // Distinct cells only: a second copy of a cell, or the base itself,
        // would be a pseudo-replicate in the rank tests.
        if (variant == base || std::find(groups[group].begin(), groups[group].end(), variant) != groups[group].end())
            continue;
        groups[group].push_back(std::move(variant));
        full += groups[group].size() == static_cast<std::size_t>(per_width);
    }
    std::vector<WidthVariant> variants;
    for (std::size_t g = 0; g < widths.size(); ++g) {
        if (groups[g].size() < static_cast<std::size_t>(per_width))
            throw SettingError("widths", fmt::format("{} was drawn only {} times in {} random rewirings (wanted {}): "
                                                     "ask for fewer cells at that width or leave it out",
                                                     format_width(widths[g]), groups[g].size(), max_draws, per_width));
        for (auto& genotype : groups[g]) variants.push_back({std::move(genotype), widths[g]});
    }
    return variants;
}

}  // namespace cellscape
