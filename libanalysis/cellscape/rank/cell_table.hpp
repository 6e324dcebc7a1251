#pragma once
// A table of cells an analyst brings: one genotype per row and one or more
// numeric columns (a benchmark's accuracies, a paper's appendix), as CSV
// (RFC 4180 quoting, with or without a header row) or JSON lines (one
// object per line). The genotype is DARTS's own repr (`Genotype(normal=[...],
// ...)`, with or without `NAME = `), or the JSON form, as a string or, in
// JSON lines, as an object (cells/genotype.hpp). Torch-free.
//
// A column is named by its header (JSON lines: its key) or, when no header
// column has that name, by its position counting from 1 (as `cut -f`).
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/util/names.hpp"

namespace cellscape {

enum class TableFormat { automatic, csv, json_lines };
template <>
struct EnumNames<TableFormat> {
    static constexpr std::array<std::pair<std::string_view, TableFormat>, 3> values{
        {{"auto", TableFormat::automatic}, {"csv", TableFormat::csv}, {"jsonl", TableFormat::json_lines}}};
};

// Whether a CSV's first row names its columns. auto: it does unless its
// genotype field parses as a genotype.
enum class HeaderRow { automatic, present, absent };
template <>
struct EnumNames<HeaderRow> {
    static constexpr std::array<std::pair<std::string_view, HeaderRow>, 3> values{
        {{"auto", HeaderRow::automatic}, {"yes", HeaderRow::present}, {"no", HeaderRow::absent}}};
};

struct CellTableOptions {
    // The genotype's column; empty: the column named "genotype" or "arch" (any case).
    std::string genotype_column;
    // (name in the results, column); empty: every other column whose first
    // row's field is a number, named by its header ("column N" without one).
    std::vector<std::pair<std::string, std::string>> values;
    // A column naming each cell; empty: one named "name" (any case) if there
    // is one, else "row LINE".
    std::string name_column;
    TableFormat format = TableFormat::automatic;  // auto: JSON lines when the first non-blank character is '{'
    HeaderRow header = HeaderRow::automatic;
    // Rows without a cell (a genotype that does not parse, a value that is
    // not a finite number, a missing field) are reported and skipped; when
    // false, any such row stops the read (SettingError "skip_bad" listing them).
    bool skip_bad = false;
};

// A cell of the table. Rows holding the same genotype are one cell: its
// values are their means, `lines` lists them all (a benchmark that trained
// an architecture twice reports two rows of it).
struct TableCell {
    std::string name;
    Genotype genotype;
    std::vector<double> values;  // one per value column
    std::vector<int64_t> lines;  // 1-based lines of the file, first one first
};

struct BadRow {
    int64_t line = 0;
    std::string reason;
};

struct CellTable {
    std::string genotype_column;          // as found (header name, or "column N")
    std::vector<std::string> value_names;
    std::vector<TableCell> cells;         // in the file's order of first appearance
    std::vector<BadRow> bad_rows;         // skipped (only with skip_bad)
    int64_t rows = 0;                     // data rows read (without a header)
    int64_t duplicate_rows = 0;           // rows merged into an earlier row's cell
};

// Error naming the file and the problem when it cannot be read as a table
// or a column named in `options` is not in it.
CellTable read_cell_table(const std::filesystem::path& path, const CellTableOptions& options);

// The fields of one CSV record (RFC 4180: commas, double quotes, "" inside
// quotes) starting at `position` in `text`; `position` moves past the
// record's line end. Error on a quote left open, naming `line`.
std::vector<std::string> read_csv_record(const std::string& text, std::size_t& position, int64_t& line);

}  // namespace cellscape
