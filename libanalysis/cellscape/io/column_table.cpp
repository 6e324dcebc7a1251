#include "cellscape/io/column_table.hpp"

#include <cmath>
#include <type_traits>

namespace cellscape {

std::size_t ColumnTable::rows() const {
    return columns.empty() ? 0 : std::visit([](const auto& values) { return values.size(); }, columns.front().second);
}

nlohmann::ordered_json column_table_json(const ColumnTable& table) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < table.rows(); ++i) {
        nlohmann::ordered_json row;
        for (const auto& [name, values] : table.columns)
            std::visit(
                [&, name = name](const auto& column) {
                    const auto& value = column[i];
                    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, double>)
                        row[name] = std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
                    else
                        row[name] = value;
                },
                values);
        rows.push_back(row);
    }
    return rows;
}

}  // namespace cellscape
