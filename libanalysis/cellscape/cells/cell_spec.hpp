#pragma once
// What every command's CELL argument accepts, resolved to named genotypes.
//
//   DARTS_V2                       a zoo cell (any case)
//   DARTS_V2:chain                 a variant of a zoo cell; KIND is widest,
//   DARTS_V2:random-connections:count=3,seed=1     chain, random-connections
//                                  or random-ops; options count, seed, and
//                                  cells=normal|reduce|both (default normal:
//                                  the base's reduction cell is kept)
//   random:count=2,seed=7,nodes=4  uniform random cells of the DARTS space
//   Genotype(normal=[...], ...)    genotype text, with or without `NAME = `
//   {"normal": [...], ...}         the JSON form
//   @FILE                          a file holding genotype text (one or more
//                                  `NAME = Genotype(...)`, as genotypes.py) or JSON
#include <optional>
#include <string>
#include <vector>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/cells/sampling.hpp"

namespace cellscape {

std::vector<NamedGenotype> resolve_cells(const std::string& spec);

// The population a spec's cells belong to in a study's rank tests (a study
// tests width within one population at a time, docs/study.md):
//   "normal-connections"  a zoo cell itself, and its variants that rewire the
//                         normal cell's connections only (widest, chain,
//                         random-connections, stratified-connections)
//   "both-connections", "reduce-connections"   those rewiring both cells, or
//                         the reduction cell only (cells=both, cells=reduce)
//   "operations"          random-ops variants: connections kept, operations drawn
//   "random"              uniform random cells of the space
//   "custom"              genotype text, JSON or a file
std::string cell_population(const std::string& spec);

// Variants rewired both cells unless told otherwise before cellscape 0.2;
// they rewire the normal cell only now. For a spec that names a variant
// without cells=, the spec that gives the cells it used to give (cells=both
// added); nullopt for every other spec. A study refuses to reuse a
// directory holding those old cells (study.hpp).
std::optional<std::string> former_default_spec(const std::string& spec);

// Like resolve_cells, but the spec must name exactly one cell.
NamedGenotype resolve_cell(const std::string& spec);

// The variants of `base` (see make_variants), named as resolve_cells names
// them: "DARTS_V2-chain", "DARTS_V2-random-connections-s1-0", ...
std::vector<NamedGenotype> named_variants(const NamedGenotype& base, VariantKind kind, int count,
                                          std::uint64_t seed, VariantTarget target);

}  // namespace cellscape
