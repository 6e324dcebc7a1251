#pragma once
// Random cells of the DARTS space and the variants of a cell that the study
// compares (docs/science.md section 3). Every function is deterministic given its
// seed, on every machine and compiler (see util/random.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/util/names.hpp"

namespace cellscape {

// The most cells one call samples or derives (SettingError "count" beyond):
// far more than any study trains, few enough to print.
inline constexpr int most_sampled_cells = 100000;

// Uniform random cells: each intermediate node picks two distinct earlier
// nodes, and each edge an operation among the seven primitives other than
// `none`; concat lists every intermediate node. Normal and reduction cells
// are drawn independently. `count` genotypes are drawn in sequence from one
// stream, so the first of N equals the single cell of the same seed.
std::vector<Genotype> sample_genotypes(int count, std::uint64_t seed, int nodes = 4);

enum class VariantKind { widest, chain, random_connections, random_operations };
template <>
struct EnumNames<VariantKind> {
    static constexpr std::array<std::pair<std::string_view, VariantKind>, 4> values{{
        {"widest", VariantKind::widest},
        {"chain", VariantKind::chain},
        {"random-connections", VariantKind::random_connections},
        {"random-ops", VariantKind::random_operations},
    }};
};

std::string variant_kind_name(VariantKind kind);  // "widest", "chain", "random-connections", "random-ops"
std::optional<VariantKind> variant_kind_from_name(const std::string& name);

// Which of the genotype's two cells a variant rewrites.
enum class VariantTarget { both, normal, reduce };
template <>
struct EnumNames<VariantTarget> {
    static constexpr std::array<std::pair<std::string_view, VariantTarget>, 3> values{{
        {"both", VariantTarget::both}, {"normal", VariantTarget::normal}, {"reduce", VariantTarget::reduce}}};
};
std::string variant_target_name(VariantTarget target);  // "both", "normal", "reduce"
std::optional<VariantTarget> variant_target_from_name(const std::string& name);

// The variants of `base`; all keep the number of nodes and the concat lists.
// widest: every node takes its first edge from input 0 and its second from
//   input 1 (width N c, depth 2); chain: node 2 takes inputs 0 and 1, every
//   later node both edges from the node before it (width 1c, depth N+1);
// random-connections: each edge's source uniform among all earlier nodes;
// random-ops: connections kept, each operation uniform among the seven
//   primitives other than `none`.
// The deterministic kinds give one genotype whatever `count` is.
std::vector<Genotype> make_variants(const Genotype& base, VariantKind kind, int count, std::uint64_t seed,
                                    VariantTarget target = VariantTarget::both);

// Random-connection variants of `base` that rewire its normal cell only
// (the reduction cell kept), stratified over the normal cell's width: drawn
// in sequence from one seeded stream, a draw is kept while its width still
// has fewer than `per_width` cells, unless it repeats a kept cell or is the
// base itself (every variant is a distinct cell). `widths` (multiples of 0.5c) must be
// reachable: random connections give every width from 1c (the first node
// always reads both inputs) to N c. Returned grouped by width, in the
// order of `widths`, each group in drawing order. SettingError "widths"
// for an unreachable width, or one still short after `max_draws` draws.
struct WidthVariant {
    Genotype genotype;
    double width = 0;
};
std::vector<WidthVariant> stratified_connection_variants(const Genotype& base, int per_width, std::uint64_t seed,
                                                         const std::vector<double>& widths,
                                                         int64_t max_draws = 200000);

// The widths random connections can give the normal cell of `base`: 1c to
// N c in steps of 0.5c.
std::vector<double> reachable_normal_widths(const Genotype& base);

}  // namespace cellscape
