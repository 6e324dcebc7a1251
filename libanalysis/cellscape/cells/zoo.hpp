#pragma once
// The genotype zoo: cells published by NAS papers (docs/science.md section 1). The
// genotypes are data, data/zoo/genotypes.txt, compiled into the library so
// the binary needs no data directory at run time.
#include <optional>
#include <string_view>
#include <vector>

#include "cellscape/cells/genotype.hpp"

namespace cellscape {

// In the order of data/zoo/genotypes.txt.
const std::vector<NamedGenotype>& genotype_zoo();

// Case-insensitive lookup by name ("darts_v2" finds DARTS_V2).
std::optional<NamedGenotype> find_in_zoo(std::string_view name);

// Parses a list of genotypes in the DARTS text form, as in the DARTS code
// base's genotypes.py: `NAME = Genotype(...)` statements, each possibly over
// several lines, with `#` comments and blank lines between them. Lines that
// are neither (imports, the namedtuple definition, PRIMITIVES) are skipped.
// `origin` names the text in error messages. Unnamed genotypes get `fallback_name`
// (numbered when there are several).
std::vector<NamedGenotype> parse_genotype_list(std::string_view text, std::string_view origin,
                                               std::string_view fallback_name);

}  // namespace cellscape
