#pragma once
// What `cellscape rank` produces (docs/rank.md): the cells with their
// values, structure and proxies; the association table; the value's means
// per width and depth group. Written to a `cellscape-rank` HDF5 file
// (docs/hdf5-schema.md), printed as JSON or as tables for people.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/io/column_table.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/nn/network_config.hpp"
#include "cellscape/rank/cell_table.hpp"
#include "cellscape/rank/rank_associations.hpp"
#include "cellscape/rank/rank_features.hpp"
#include "cellscape/rank/rank_proxies.hpp"

namespace cellscape {

inline constexpr const char* rank_format = "cellscape-rank";
inline constexpr int64_t rank_format_version = 1;

// The groupings of the groups table: the cells' widths and depths.
inline const std::vector<std::string> rank_groupings{"normal_width", "normal_depth", "reduce_width", "reduce_depth"};

struct RankResult {
    std::filesystem::path source;  // the table read
    CellTable table;
    nn::NetworkConfig network;
    StructuralFeatures features;
    std::optional<RankProxyScores> proxies;
    std::vector<uint64_t> seeds;  // of the proxies
    RankOptions options;
    std::vector<RankAssociationRow> associations;
    std::vector<RankGroupRow> groups;
};

// The metrics ranked: the structural ones, then each proxy (its seeds' replicates).
std::vector<RankMetric> rank_metrics(const StructuralFeatures& features, const std::optional<RankProxyScores>& proxies);
std::vector<RankValue> rank_values(const CellTable& table);

// The tables of the file and of the JSON output.
ColumnTable rank_cells_table(const RankResult& result);
ColumnTable rank_associations_table(const RankResult& result);
ColumnTable rank_groups_table(const RankResult& result);
ColumnTable rank_bad_rows_table(const RankResult& result);
ColumnTable rank_proxy_seeds_table(const RankResult& result);  // one row per (cell, seed)

void write_rank_file(const std::filesystem::path& path, const RankResult& result, const OutputRecord& record);
nlohmann::ordered_json rank_json(const RankResult& result);

// For people: what was read, the association table sorted by |rho|, and the groups.
std::string format_rank_report(const RankResult& result);

}  // namespace cellscape
