#pragma once
// Random cells of the DARTS space and the variants of a cell that the study
// compares (PAPER.md section 3). Every function is deterministic given its
// seed, on every machine and compiler (see util/random.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/cells/genotype.hpp"

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

std::string variant_kind_name(VariantKind kind);  // "widest", "chain", "random-connections", "random-ops"
std::optional<VariantKind> variant_kind_from_name(const std::string& name);

// Which of the genotype's two cells a variant rewrites.
enum class VariantTarget { both, normal, reduce };
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

}  // namespace cellscape
