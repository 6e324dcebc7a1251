#pragma once
// A genotype: the normal and the reduction cell of a DARTS-space network.
//
// Node indices follow the DARTS convention: 0 and 1 are the cell's inputs
// (outputs of cells k-2 and k-1), node j >= 2 is the (j-2)-th intermediate
// node. Edges 2i and 2i+1 are the two incoming edges of node i+2; the cell's
// output concatenates the nodes listed in `concat`.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cellscape/cells/operation.hpp"
#include "cellscape/util/names.hpp"

namespace cellscape {

struct Edge {
    Operation op;
    int source;
    bool operator==(const Edge& other) const { return op == other.op && source == other.source; }
    bool operator!=(const Edge& other) const { return !(*this == other); }
};

struct Cell {
    std::vector<Edge> edges;
    std::vector<int> concat;

    int intermediate_nodes() const { return static_cast<int>(edges.size() / 2); }
    bool operator==(const Cell& other) const { return edges == other.edges && concat == other.concat; }
    bool operator!=(const Cell& other) const { return !(*this == other); }
};

enum class CellType { normal, reduce };
template <>
struct EnumNames<CellType> {
    static constexpr std::array<std::pair<std::string_view, CellType>, 2> values{{
        {"normal", CellType::normal}, {"reduce", CellType::reduce}}};
};
inline std::string_view cell_type_name(CellType type) { return name_of(type); }  // "normal" / "reduce"

struct Genotype {
    Cell normal;
    Cell reduce;

    const Cell& cell(CellType type) const { return type == CellType::normal ? normal : reduce; }
    Cell& cell(CellType type) { return type == CellType::normal ? normal : reduce; }
    bool operator==(const Genotype& other) const { return normal == other.normal && reduce == other.reduce; }
    bool operator!=(const Genotype& other) const { return !(*this == other); }
};

inline constexpr CellType both_cell_types[] = {CellType::normal, CellType::reduce};

// A genotype with the name it goes by ("DARTS_V2", "DARTS_V2-chain", ...).
struct NamedGenotype {
    std::string name;
    Genotype genotype;
};

// The first structural problem of a cell: no edges, an odd number of edges, a
// source that is not an earlier node, an empty concat list or one naming a
// node that does not exist (or naming one twice). `element` is the index of
// the offending edge or concat entry, so a parser can point at its text.
struct CellProblem {
    enum class Where { edge_list, edge, concat_list, concat_entry } where;
    std::size_t element;
    std::string message;
};
std::optional<CellProblem> find_cell_problem(const Cell& cell, CellType type);

// Throw Error with the message of the first problem, if there is one.
void validate_cell(const Cell& cell, CellType type);
void validate_genotype(const Genotype& genotype);

// The DARTS text form, exactly as the DARTS code base prints it:
// Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[...])
std::string format_genotype(const Genotype& genotype);

// Parses the DARTS text form, with or without a leading `NAME = `, single or
// double quotes, any whitespace, keyword or positional arguments, concat
// lists written as [..] or range(a, b). Throws Error naming the problem and
// its line and column. The name, when present, is returned too.
struct ParsedGenotype {
    std::optional<std::string> name;
    Genotype genotype;
};
ParsedGenotype parse_genotype_text(std::string_view text);

// The JSON form: {"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5],
// "reduce": [...], "reduce_concat": [...]}, with an optional "name". An object
// with a "genotype" string (what the cell report, cells/cell_report.hpp, prints) is accepted
// too. Throws Error naming the problem and where it is.
std::string format_genotype_json(const Genotype& genotype);
ParsedGenotype parse_genotype_json(std::string_view text);

// JSON when the first non-blank character is '{', the DARTS text form otherwise.
ParsedGenotype parse_genotype(std::string_view text);

}  // namespace cellscape
