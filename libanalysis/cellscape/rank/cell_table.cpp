#include "cellscape/rank/cell_table.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "cellscape/util/error.hpp"

namespace cellscape {

std::vector<std::string> read_csv_record(const std::string& text, std::size_t& position, int64_t& line) {
    const int64_t first_line = line;
    std::vector<std::string> fields(1);
    bool quoted = false;
    while (position < text.size()) {
        const char c = text[position++];
        if (quoted) {
            if (c == '"' && position < text.size() && text[position] == '"') {
                fields.back() += '"';
                ++position;
            } else if (c == '"') {
                quoted = false;
            } else {
                if (c == '\n') ++line;
                fields.back() += c;
            }
        } else if (c == '"' && fields.back().empty()) {
            quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && position < text.size() && text[position] == '\n') ++position;
            ++line;
            return fields;
        } else {
            fields.back() += c;
        }
    }
    if (quoted) throw Error(fmt::format("line {}: a quoted field opened here is never closed", first_line));
    return fields;
}

namespace {

// A table as text fields: the header's names (empty without one) and each
// data row's fields (nullopt where a JSON line lacks the key).
struct RawRow {
    int64_t line = 0;
    std::vector<std::optional<std::string>> fields;
};
struct RawTable {
    std::vector<std::string> header;
    std::vector<RawRow> rows;
};

bool blank(const std::string& text) {
    return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

std::string trimmed(const std::string& text) {
    const auto start = text.find_first_not_of(" \t\r\n");
    if (start == std::string::npos) return "";
    return text.substr(start, text.find_last_not_of(" \t\r\n") + 1 - start);
}

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

std::string file_text(const std::filesystem::path& path) {
    if (!std::filesystem::is_regular_file(path))
        throw Error(fmt::format("{}: {}", path.string(),
                                std::filesystem::exists(path) ? "is not a regular file: give a CSV or JSON-lines file"
                                                              : "does not exist"));
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in && !in.eof()) throw Error(fmt::format("{}: could not be read", path.string()));
    return text.str();
}

RawTable read_json_lines(const std::string& text, const std::filesystem::path& path) {
    RawTable table;
    std::vector<nlohmann::ordered_json> objects;
    std::vector<int64_t> lines;
    std::istringstream in(text);
    std::string line_text;
    for (int64_t line = 1; std::getline(in, line_text); ++line) {
        if (blank(line_text)) continue;
        nlohmann::ordered_json object;
        try {
            object = nlohmann::ordered_json::parse(line_text);
        } catch (const nlohmann::json::parse_error&) {
            objects.emplace_back(nullptr);  // no fields: reported as a bad row
            lines.push_back(line);
            continue;
        }
        if (!object.is_object()) object = nullptr;
        for (auto it = object.is_object() ? object.begin() : object.end(); it != object.end(); ++it)
            if (std::find(table.header.begin(), table.header.end(), it.key()) == table.header.end())
                table.header.push_back(it.key());
        objects.push_back(std::move(object));
        lines.push_back(line);
    }
    for (std::size_t r = 0; r < objects.size(); ++r) {
        RawRow row{lines[r], {}};
        if (objects[r].is_object())
            for (const std::string& key : table.header) {
                if (!objects[r].contains(key)) row.fields.emplace_back();
                else if (objects[r][key].is_string()) row.fields.emplace_back(objects[r][key].get<std::string>());
                else row.fields.emplace_back(objects[r][key].dump());
            }
        table.rows.push_back(std::move(row));
    }
    if (table.rows.empty()) throw Error(fmt::format("{}: holds no JSON line", path.string()));
    return table;
}

RawTable read_csv(const std::string& text) {
    RawTable table;
    std::size_t position = 0;
    int64_t line = 1;
    while (position < text.size()) {
        const int64_t start = line;
        std::vector<std::string> fields = read_csv_record(text, position, line);
        if (fields.size() == 1 && blank(fields[0])) continue;
        RawRow row{start, {}};
        for (std::string& field : fields) row.fields.emplace_back(std::move(field));
        table.rows.push_back(std::move(row));
    }
    return table;
}

bool parses_as_genotype(const std::string& text) {
    try {
        parse_genotype(text);
        return true;
    } catch (const Error&) {
        return false;
    }
}

std::optional<double> number(const std::string& text) {
    const std::string value = trimmed(text);
    if (value.empty()) return std::nullopt;
    char* end = nullptr;
    const double parsed = std::strtod(value.c_str(), &end);
    if (end != value.c_str() + value.size() || !std::isfinite(parsed)) return std::nullopt;
    return parsed;
}

// A column's index by header name (exact, then any case when `any_case`), or by position from 1.
std::optional<std::size_t> find_column(const RawTable& table, std::size_t columns, const std::string& spec) {
    for (std::size_t i = 0; i < table.header.size(); ++i)
        if (table.header[i] == spec) return i;
    if (const auto position = number(spec); position && *position >= 1 && *position <= static_cast<double>(columns) &&
                                            std::floor(*position) == *position)
        return static_cast<std::size_t>(*position) - 1;
    return std::nullopt;
}

std::optional<std::size_t> find_any_case(const RawTable& table, std::initializer_list<const char*> names) {
    for (const char* name : names)
        for (std::size_t i = 0; i < table.header.size(); ++i)
            if (lower(trimmed(table.header[i])) == name) return i;
    return std::nullopt;
}

std::string column_label(const RawTable& table, std::size_t index) {
    return index < table.header.size() && !table.header[index].empty() ? table.header[index]
                                                                       : fmt::format("column {}", index + 1);
}

std::string known_columns(const RawTable& table, std::size_t columns) {
    if (table.header.empty()) return fmt::format("the file has no header: columns 1 to {}", columns);
    std::string names;
    for (const std::string& name : table.header) names += (names.empty() ? "" : ", ") + fmt::format("'{}'", name);
    return "the file has: " + names + " (or give a position from 1)";
}

// Which fields of a row the table takes.
struct Columns {
    std::size_t genotype = 0;
    std::optional<std::size_t> name;
    std::vector<std::size_t> values;
    std::vector<std::string> value_names;
};

Columns resolve_columns(const RawTable& table, const CellTableOptions& options, const std::filesystem::path& path) {
    std::size_t columns = table.header.size();
    for (const RawRow& row : table.rows) columns = std::max(columns, row.fields.size());
    Columns resolved;
    if (options.genotype_column.empty()) {
        const auto found = find_any_case(table, {"genotype", "arch"});
        if (!found)
            throw SettingError("genotype_column", fmt::format("{} has no column named 'genotype' or 'arch'; name the "
                                                              "genotype's column ({})",
                                                              path.string(), known_columns(table, columns)));
        resolved.genotype = *found;
    } else {
        const auto found = find_column(table, columns, options.genotype_column);
        if (!found)
            throw SettingError("genotype_column", fmt::format("'{}' is not a column of {}; {}", options.genotype_column,
                                                              path.string(), known_columns(table, columns)));
        resolved.genotype = *found;
    }
    if (!options.name_column.empty()) {
        resolved.name = find_column(table, columns, options.name_column);
        if (!resolved.name)
            throw SettingError("name_column", fmt::format("'{}' is not a column of {}; {}", options.name_column,
                                                          path.string(), known_columns(table, columns)));
    } else {
        resolved.name = find_any_case(table, {"name"});
    }
    for (const auto& [name, spec] : options.values) {
        const auto found = find_column(table, columns, spec);
        if (!found)
            throw SettingError("values", fmt::format("'{}' is not a column of {}; {}", spec, path.string(),
                                                     known_columns(table, columns)));
        resolved.values.push_back(*found);
        resolved.value_names.push_back(name.empty() ? column_label(table, *found) : name);
    }
    if (options.values.empty() && !table.rows.empty()) {
        const RawRow& first = table.rows.front();
        for (std::size_t i = 0; i < first.fields.size(); ++i)
            if (i != resolved.genotype && i != resolved.name && first.fields[i] && number(*first.fields[i])) {
                resolved.values.push_back(i);
                resolved.value_names.push_back(column_label(table, i));
            }
        if (resolved.values.empty())
            throw SettingError("values", fmt::format("{}: its first row has no numeric column besides the genotype; "
                                                     "name the columns to rank against",
                                                     path.string()));
    }
    for (std::size_t a = 0; a < resolved.value_names.size(); ++a)
        for (std::size_t b = a + 1; b < resolved.value_names.size(); ++b)
            if (resolved.value_names[a] == resolved.value_names[b])
                throw SettingError("values", fmt::format("two value columns are called '{}'; give them different names "
                                                         "(NAME=COLUMN)",
                                                         resolved.value_names[a]));
    return resolved;
}

const std::optional<std::string>* field(const RawRow& row, std::size_t index) {
    static const std::optional<std::string> missing;
    return index < row.fields.size() ? &row.fields[index] : &missing;
}

// The row's cell, or why it has none.
struct RowCell {
    std::optional<TableCell> cell;
    std::string reason;
};

RowCell row_cell(const RawTable& table, const RawRow& row, const Columns& columns) {
    if (row.fields.empty()) return {std::nullopt, "not a JSON object"};
    const auto* genotype_text = field(row, columns.genotype);
    const std::string genotype_label = column_label(table, columns.genotype);
    if (!*genotype_text || blank(**genotype_text)) return {std::nullopt, fmt::format("{} is empty", genotype_label)};
    TableCell cell;
    try {
        ParsedGenotype parsed = parse_genotype(**genotype_text);
        cell.genotype = std::move(parsed.genotype);
        if (parsed.name) cell.name = *parsed.name;
    } catch (const Error& error) {
        return {std::nullopt, fmt::format("{}: {}", genotype_label, error.what())};
    }
    for (std::size_t v = 0; v < columns.values.size(); ++v) {
        const auto* text = field(row, columns.values[v]);
        const auto value = *text ? number(**text) : std::nullopt;
        if (!value)
            return {std::nullopt,
                    fmt::format("{} is {}, not a finite number", column_label(table, columns.values[v]),
                                !*text ? "missing" : blank(**text) ? "empty" : fmt::format("'{}'", trimmed(**text)))};
        cell.values.push_back(*value);
    }
    if (columns.name)
        if (const auto* name = field(row, *columns.name); *name && !blank(**name)) cell.name = trimmed(**name);
    if (cell.name.empty()) cell.name = fmt::format("row {}", row.line);
    cell.lines.push_back(row.line);
    return {std::move(cell), ""};
}

std::string bad_rows_listing(const std::vector<BadRow>& bad) {
    std::string listing;
    const std::size_t shown = std::min<std::size_t>(bad.size(), 10);
    for (std::size_t i = 0; i < shown; ++i)
        listing += fmt::format("{}line {}: {}", i ? "; " : "", bad[i].line, bad[i].reason);
    if (bad.size() > shown) listing += fmt::format("; and {} more", bad.size() - shown);
    return listing;
}

}  // namespace

CellTable read_cell_table(const std::filesystem::path& path, const CellTableOptions& options) {
    const std::string text = file_text(path);
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) throw Error(fmt::format("{}: is empty: give a table of cells", path.string()));
    TableFormat format = options.format;
    if (format == TableFormat::automatic) format = text[first] == '{' ? TableFormat::json_lines : TableFormat::csv;
    RawTable table = format == TableFormat::json_lines ? read_json_lines(text, path) : read_csv(text);
    if (format == TableFormat::csv) {
        bool header = options.header == HeaderRow::present;
        if (options.header == HeaderRow::automatic) {
            // A header unless one of the first row's fields is a genotype.
            header = std::none_of(table.rows.front().fields.begin(), table.rows.front().fields.end(),
                                  [](const auto& f) { return f && parses_as_genotype(*f); });
        }
        if (header) {
            for (const auto& name : table.rows.front().fields) table.header.push_back(trimmed(name.value_or("")));
            table.rows.erase(table.rows.begin());
        }
    }
    if (table.rows.empty()) throw Error(fmt::format("{}: has a header but no rows", path.string()));
    const Columns columns = resolve_columns(table, options, path);

    CellTable result;
    result.genotype_column = column_label(table, columns.genotype);
    result.value_names = columns.value_names;
    result.rows = static_cast<int64_t>(table.rows.size());
    std::map<std::string, std::size_t> by_genotype;
    std::vector<std::vector<std::vector<double>>> row_values;  // per cell, per row
    for (const RawRow& row : table.rows) {
        RowCell parsed = row_cell(table, row, columns);
        if (!parsed.cell) {
            result.bad_rows.push_back({row.line, parsed.reason});
            continue;
        }
        const std::string key = format_genotype(parsed.cell->genotype);
        if (const auto found = by_genotype.find(key); found != by_genotype.end()) {
            result.cells[found->second].lines.push_back(row.line);
            row_values[found->second].push_back(parsed.cell->values);
            ++result.duplicate_rows;
            continue;
        }
        by_genotype.emplace(key, result.cells.size());
        row_values.push_back({parsed.cell->values});
        result.cells.push_back(std::move(*parsed.cell));
    }
    if (!result.bad_rows.empty() && !options.skip_bad)
        throw SettingError("skip_bad",
                           fmt::format("{} has {} row{} without a cell ({}); nothing was computed: fix them, or skip "
                                       "them with this setting",
                                       path.string(), result.bad_rows.size(), result.bad_rows.size() == 1 ? "" : "s",
                                       bad_rows_listing(result.bad_rows)));
    for (std::size_t c = 0; c < result.cells.size(); ++c)
        for (std::size_t v = 0; v < result.value_names.size(); ++v) {
            double sum = 0;
            for (const auto& values : row_values[c]) sum += values[v];
            result.cells[c].values[v] = sum / static_cast<double>(row_values[c].size());
        }
    return result;
}

}  // namespace cellscape
