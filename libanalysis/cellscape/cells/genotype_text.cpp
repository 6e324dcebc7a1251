// Parser for the DARTS text form of a genotype (see genotype.hpp). A small
// recursive-descent parser: the grammar is a sliver of Python, and errors
// must say what is wrong and where, which a regex cannot.
#include <fmt/format.h>

#include <array>
#include <cctype>
#include <optional>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {
namespace {

// A list as it appeared in the text, with the positions needed to point at
// the offending element after the whole genotype has been read.
struct EdgeListSyntax {
    std::vector<Edge> edges;
    std::vector<std::size_t> source_positions;
    std::size_t open_position = 0;
    std::size_t close_position = 0;
};

struct ConcatSyntax {
    std::vector<int> nodes;
    std::vector<std::size_t> positions;
    std::size_t position = 0;
};

class TextParser {
public:
    explicit TextParser(std::string_view text) : text_(text) {}

    ParsedGenotype parse() {
        ParsedGenotype result;
        skip_blank();
        std::size_t start = pos_;
        std::string word = identifier();
        skip_blank();
        if (peek() == '=') {  // `NAME = Genotype(...)`
            ++pos_;
            result.name = word;
            skip_blank();
            start = pos_;
            word = identifier();
        }
        if (word != "Genotype") {
            if (word.empty()) fail(start, "expected `Genotype(` (optionally preceded by `NAME =`)");
            fail(start, fmt::format("expected `Genotype(`, found `{}`", word));
        }
        skip_blank();
        expect('(', "after `Genotype`");
        parse_arguments();
        expect(')', "to close `Genotype(`");
        skip_blank();
        if (pos_ != text_.size()) fail(pos_, "unexpected text after the closing `)` of `Genotype(...)`");

        check_cell(normal_, normal_concat_, CellType::normal, result.genotype.normal);
        check_cell(reduce_, reduce_concat_, CellType::reduce, result.genotype.reduce);
        return result;
    }

private:
    static constexpr std::array<const char*, 4> field_names = {"normal", "normal_concat", "reduce",
                                                               "reduce_concat"};

    void parse_arguments() {
        int positional = 0;
        bool saw_keyword = false;
        skip_blank();
        while (peek() != ')') {
            const std::size_t start = pos_;
            int field = -1;
            if (is_identifier_start(peek()) && !starts_with_word("range")) {
                const std::string key = identifier();
                skip_blank();
                if (peek() != '=') fail(start, fmt::format("expected `{} =`", key));
                ++pos_;
                for (int i = 0; i < 4; ++i)
                    if (key == field_names[static_cast<std::size_t>(i)]) field = i;
                if (field < 0)
                    fail(start, fmt::format("unknown field `{}` (expected normal, normal_concat, reduce, "
                                            "reduce_concat)",
                                            key));
                saw_keyword = true;
            } else {
                if (saw_keyword) fail(start, "a positional argument follows a keyword argument");
                if (positional >= 4) fail(start, "too many arguments: Genotype takes four");
                field = positional++;
            }
            if (seen_[static_cast<std::size_t>(field)])
                fail(start, fmt::format("`{}` is given twice", field_names[static_cast<std::size_t>(field)]));
            seen_[static_cast<std::size_t>(field)] = true;
            skip_blank();
            switch (field) {
                case 0: normal_ = edge_list(); break;
                case 1: normal_concat_ = concat(); break;
                case 2: reduce_ = edge_list(); break;
                default: reduce_concat_ = concat(); break;
            }
            after_element(')', "after an argument of `Genotype(`");
        }
        for (std::size_t i = 0; i < 4; ++i)
            if (!seen_[i]) fail(pos_, fmt::format("`{}` is missing", field_names[i]));
    }

    EdgeListSyntax edge_list() {
        EdgeListSyntax list;
        list.open_position = pos_;
        expect('[', "to open a list of (operation, source) edges");
        skip_blank();
        while (peek() != ']') {
            const std::size_t tuple_start = pos_;
            if (peek() != '(') fail(pos_, "expected an edge `('operation', source)` or `]`");
            ++pos_;
            skip_blank();
            const std::size_t op_position = pos_;
            const std::string name = quoted_string();
            const auto op = operation_from_name(name);
            if (!op) {
                std::string known;
                for (Operation candidate : all_operations)
                    known += fmt::format("{}{}", known.empty() ? "" : ", ", operation_name(candidate));
                fail(op_position, fmt::format("unknown operation '{}' (known: {})", name, known));
            }
            skip_blank();
            expect(',', "between the operation and the source node of an edge");
            skip_blank();
            const std::size_t source_position = pos_;
            const int source = integer();
            skip_blank();
            if (peek() == ',') {
                ++pos_;
                skip_blank();
            }
            if (peek() != ')') fail(tuple_start, "an edge is a pair `('operation', source)`");
            ++pos_;
            list.edges.push_back({*op, source});
            list.source_positions.push_back(source_position);
            after_element(']', "in the list of edges");
        }
        list.close_position = pos_;
        ++pos_;
        return list;
    }

    ConcatSyntax concat() {
        ConcatSyntax result;
        result.position = pos_;
        if (starts_with_word("range")) {
            pos_ += 5;
            skip_blank();
            expect('(', "after `range`");
            skip_blank();
            int first = integer();
            skip_blank();
            std::optional<int> second;
            if (peek() == ',') {
                ++pos_;
                skip_blank();
                second = integer();
                skip_blank();
            }
            expect(')', "to close `range(`");
            const int begin = second ? first : 0;
            const int end = second ? *second : first;
            if (end - begin > 1000) fail(result.position, "range(...) is far too long for a cell");
            for (int node = begin; node < end; ++node) {
                result.nodes.push_back(node);
                result.positions.push_back(result.position);
            }
            return result;
        }
        expect('[', "to open a concat list (or write range(a, b))");
        skip_blank();
        while (peek() != ']') {
            result.positions.push_back(pos_);
            result.nodes.push_back(integer());
            after_element(']', "in the concat list");
        }
        ++pos_;
        return result;
    }

    // Structural checks, each error pointing at the text that caused it.
    void check_cell(const EdgeListSyntax& list, const ConcatSyntax& concat, CellType type, Cell& cell) {
        cell.edges = list.edges;
        cell.concat = concat.nodes;
        const auto problem = find_cell_problem(cell, type);
        if (!problem) return;
        using Where = CellProblem::Where;
        switch (problem->where) {
            case Where::edge_list:
                fail(list.edges.empty() ? list.open_position : list.close_position, problem->message);
            case Where::edge: fail(list.source_positions[problem->element], problem->message);
            case Where::concat_list: fail(concat.position, problem->message);
            case Where::concat_entry: fail(concat.positions[problem->element], problem->message);
        }
    }

    std::string quoted_string() {
        const char quote = peek();
        if (quote != '\'' && quote != '"') fail(pos_, "expected a quoted operation name such as 'sep_conv_3x3'");
        const std::size_t start = ++pos_;
        while (pos_ < text_.size() && text_[pos_] != quote) {
            if (text_[pos_] == '\n') fail(start - 1, "unterminated string");
            ++pos_;
        }
        if (pos_ >= text_.size()) fail(start - 1, "unterminated string");
        return std::string(text_.substr(start, pos_++ - start));
    }

    int integer() {
        const std::size_t start = pos_;
        bool negative = false;
        if (peek() == '-') {
            negative = true;
            ++pos_;
        }
        if (!std::isdigit(static_cast<unsigned char>(peek()))) fail(start, "expected a node index (an integer)");
        long value = 0;
        while (std::isdigit(static_cast<unsigned char>(peek()))) {
            value = value * 10 + (text_[pos_++] - '0');
            if (value > 1000000) fail(start, "node index is far too large");
        }
        return static_cast<int>(negative ? -value : value);
    }

    std::string identifier() {
        const std::size_t start = pos_;
        if (!is_identifier_start(peek())) return {};
        while (pos_ < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_'))
            ++pos_;
        return std::string(text_.substr(start, pos_ - start));
    }

    bool starts_with_word(std::string_view word) const {
        if (text_.substr(pos_, word.size()) != word) return false;
        const std::size_t after = pos_ + word.size();
        return after >= text_.size() ||
               !(std::isalnum(static_cast<unsigned char>(text_[after])) || text_[after] == '_');
    }

    static bool is_identifier_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }

    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

    void skip_blank() {
        while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    }

    // After an element of a comma-separated sequence: a `,` (a trailing one is
    // allowed, as in Python) or the sequence's closing character.
    void after_element(char close, std::string_view where) {
        skip_blank();
        if (peek() == ',') {
            ++pos_;
            skip_blank();
        } else if (peek() != close) {
            fail(pos_, fmt::format("expected `,` or `{}` {}", close, where));
        }
    }

    void expect(char c, std::string_view why) {
        if (peek() != c) {
            if (pos_ >= text_.size()) fail(pos_, fmt::format("the text ends where `{}` is expected {}", c, why));
            fail(pos_, fmt::format("expected `{}` {}, found `{}`", c, why, text_[pos_]));
        }
        ++pos_;
    }

    [[noreturn]] void fail(std::size_t position, const std::string& message) const {
        std::size_t line = 1, column = 1;
        for (std::size_t i = 0; i < position && i < text_.size(); ++i) {
            if (text_[i] == '\n') {
                ++line;
                column = 1;
            } else {
                ++column;
            }
        }
        throw Error(fmt::format("genotype text, line {}, column {}: {}", line, column, message));
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::array<bool, 4> seen_{};
    EdgeListSyntax normal_, reduce_;
    ConcatSyntax normal_concat_, reduce_concat_;
};

}  // namespace

ParsedGenotype parse_genotype_text(std::string_view text) { return TextParser(text).parse(); }

}  // namespace cellscape
