#pragma once
// A table as named columns of equal length: the form every summary file
// (a study's summary.h5, a rank file) stores as a group of 1-D datasets and
// the commands' JSON prints as a list of row objects.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace cellscape {

struct ColumnTable {
    using Values = std::variant<std::vector<std::string>, std::vector<double>, std::vector<int64_t>>;
    std::vector<std::pair<std::string, Values>> columns;

    std::size_t rows() const;  // 0 without columns
};

// Appends the column `name` of `get(row)` for every row.
template <typename Row, typename Get>
void add_column(ColumnTable& table, const std::string& name, const std::vector<Row>& rows, Get get) {
    std::vector<std::decay_t<decltype(get(rows.front()))>> values;
    for (const Row& row : rows) values.push_back(get(row));
    table.columns.emplace_back(name, std::move(values));
}

// A list of row objects with the columns' names; NaN as null.
nlohmann::ordered_json column_table_json(const ColumnTable& table);

}  // namespace cellscape
