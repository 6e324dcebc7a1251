#include "cellscape/cells/sampling.hpp"

#include <fmt/format.h>

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

std::string variant_kind_name(VariantKind kind) {
    switch (kind) {
        case VariantKind::widest: return "widest";
        case VariantKind::chain: return "chain";
        case VariantKind::random_connections: return "random-connections";
        case VariantKind::random_operations: return "random-ops";
    }
    return "?";
}

std::optional<VariantKind> variant_kind_from_name(const std::string& name) {
    for (VariantKind kind : {VariantKind::widest, VariantKind::chain, VariantKind::random_connections,
                             VariantKind::random_operations})
        if (variant_kind_name(kind) == name) return kind;
    return std::nullopt;
}

std::string variant_target_name(VariantTarget target) {
    switch (target) {
        case VariantTarget::both: return "both";
        case VariantTarget::normal: return "normal";
        case VariantTarget::reduce: return "reduce";
    }
    return "?";
}

std::optional<VariantTarget> variant_target_from_name(const std::string& name) {
    for (VariantTarget target : {VariantTarget::both, VariantTarget::normal, VariantTarget::reduce})
        if (variant_target_name(target) == name) return target;
    return std::nullopt;
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

}  // namespace cellscape
