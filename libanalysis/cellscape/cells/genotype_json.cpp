// The JSON form of a genotype (see genotype.hpp).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& where, const std::string& message) {
    throw Error(fmt::format("genotype JSON, at {}: {}", where, message));
}

int node_index(const json& value, const std::string& where) {
    if (!value.is_number_integer()) fail(where, "expected an integer node index");
    const auto index = value.get<long long>();
    if (index < -1000000 || index > 1000000) fail(where, "node index is far too large");
    return static_cast<int>(index);
}

std::vector<Edge> edges_from_json(const json& object, const std::string& key) {
    if (!object.contains(key)) fail(key, fmt::format("\"{}\" is missing", key));
    const json& list = object.at(key);
    if (!list.is_array()) fail(key, "expected a list of [\"operation\", source] pairs");
    std::vector<Edge> edges;
    for (std::size_t k = 0; k < list.size(); ++k) {
        const std::string where = fmt::format("{}[{}]", key, k);
        const json& pair = list[k];
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string())
            fail(where, "an edge is a pair [\"operation\", source]");
        const auto name = pair[0].get<std::string>();
        const auto op = operation_from_name(name);
        if (!op) fail(where, fmt::format("unknown operation '{}'", name));
        edges.push_back({*op, node_index(pair[1], where + "[1]")});
    }
    return edges;
}

std::vector<int> concat_from_json(const json& object, const std::string& key) {
    if (!object.contains(key)) fail(key, fmt::format("\"{}\" is missing", key));
    const json& list = object.at(key);
    if (!list.is_array()) fail(key, "expected a list of node indices");
    std::vector<int> nodes;
    for (std::size_t i = 0; i < list.size(); ++i) nodes.push_back(node_index(list[i], fmt::format("{}[{}]", key, i)));
    return nodes;
}

json cell_to_json_edges(const Cell& cell) {
    json edges = json::array();
    for (const Edge& edge : cell.edges) edges.push_back({std::string(operation_name(edge.op)), edge.source});
    return edges;
}

}  // namespace

std::string format_genotype_json(const Genotype& genotype) {
    json out = json::object();
    out["normal"] = cell_to_json_edges(genotype.normal);
    out["normal_concat"] = genotype.normal.concat;
    out["reduce"] = cell_to_json_edges(genotype.reduce);
    out["reduce_concat"] = genotype.reduce.concat;
    return out.dump();
}

ParsedGenotype parse_genotype_json(std::string_view text) {
    json document;
    try {
        document = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& error) {
        throw Error(fmt::format("genotype JSON is not valid JSON (byte {}): {}", error.byte, error.what()));
    } catch (const json::exception& error) {  // e.g. a number too large for any type (found by fuzzing)
        throw Error(fmt::format("genotype JSON cannot be read: {}", error.what()));
    }
    if (!document.is_object()) throw Error("genotype JSON must be an object with normal, normal_concat, reduce, reduce_concat");

    ParsedGenotype result;
    if (document.contains("name")) {
        if (!document["name"].is_string()) fail("name", "expected a string");
        result.name = document["name"].get<std::string>();
    }
    if (document.contains("genotype")) {  // the object a cell report prints (cells/cell_report.hpp)
        if (!document["genotype"].is_string()) fail("genotype", "expected the DARTS text form as a string");
        result.genotype = parse_genotype_text(document["genotype"].get<std::string>()).genotype;
        return result;
    }
    result.genotype.normal = {edges_from_json(document, "normal"), concat_from_json(document, "normal_concat")};
    result.genotype.reduce = {edges_from_json(document, "reduce"), concat_from_json(document, "reduce_concat")};
    for (CellType type : both_cell_types)
        if (auto problem = find_cell_problem(result.genotype.cell(type), type))
            throw Error("genotype JSON: " + problem->message);
    return result;
}

}  // namespace cellscape
