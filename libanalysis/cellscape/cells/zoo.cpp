#include "cellscape/cells/zoo.hpp"

#include <fmt/format.h>

#include <cctype>
#include <string>

#include "cellscape/util/error.hpp"

namespace cellscape {

// Defined in the file CMake generates from data/zoo/genotypes.txt.
extern const std::string_view zoo_genotypes_text;

namespace {

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string strip_comment(const std::string& line) {
    // Operation names never contain '#', so a '#' always starts a comment.
    const auto hash = line.find('#');
    return hash == std::string::npos ? line : line.substr(0, hash);
}

std::size_t skip_spaces(const std::string& line, std::size_t at) {
    while (at < line.size() && std::isspace(static_cast<unsigned char>(line[at]))) ++at;
    return at;
}

// Whether `line` opens a statement: `[NAME =] Genotype(`, spaces allowed.
// A linear scan: std::regex recursed once per character and overflowed the
// stack on lines of ~50 KB.
bool starts_genotype_statement(const std::string& line) {
    std::size_t at = skip_spaces(line, 0);
    const auto is_start = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; };
    const auto is_part = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    const std::size_t name_start = at;
    if (at < line.size() && is_start(line[at]))
        while (at < line.size() && is_part(line[at])) ++at;
    const std::string first_word = line.substr(name_start, at - name_start);
    std::size_t after = skip_spaces(line, at);
    if (first_word != "Genotype" || after >= line.size() || line[after] != '(') {
        if (first_word.empty() || after >= line.size() || line[after] != '=') return false;
        at = skip_spaces(line, after + 1);
        const std::size_t keyword = at;
        while (at < line.size() && is_part(line[at])) ++at;
        if (line.compare(keyword, at - keyword, "Genotype") != 0 || at - keyword != 8) return false;
        after = skip_spaces(line, at);
    }
    return after < line.size() && line[after] == '(';
}

}  // namespace

std::vector<NamedGenotype> parse_genotype_list(std::string_view text, std::string_view origin,
                                               std::string_view fallback_name) {
    // Group lines into statements: a statement starts at a line that opens
    // `Genotype(` and runs until its parentheses balance.
    struct Statement {
        std::string text;
        std::size_t line;
    };
    std::vector<Statement> statements;
    int depth = 0;
    std::size_t line_number = 0;
    std::size_t begin = 0;
    while (begin <= text.size()) {
        std::size_t end = text.find('\n', begin);
        if (end == std::string_view::npos) end = text.size();
        const std::string line = strip_comment(std::string(text.substr(begin, end - begin)));
        ++line_number;
        begin = end + 1;
        if (depth == 0) {
            if (!starts_genotype_statement(line)) continue;
            statements.push_back({"", line_number});
        }
        statements.back().text += line + "\n";
        for (char c : line) depth += c == '(' ? 1 : c == ')' ? -1 : 0;
        if (depth < 0) depth = 0;
    }
    if (statements.empty())
        throw Error(fmt::format("{}: no genotype found (expected `NAME = Genotype(normal=[...], ...)` or JSON)",
                                origin));

    std::vector<NamedGenotype> genotypes;
    for (std::size_t i = 0; i < statements.size(); ++i) {
        ParsedGenotype parsed;
        try {
            parsed = parse_genotype_text(statements[i].text);
        } catch (const Error& error) {
            throw Error(fmt::format("{} (statement starting on line {}): {}", origin, statements[i].line,
                                    error.what()));
        }
        std::string name = parsed.name ? *parsed.name
                           : statements.size() == 1 ? std::string(fallback_name)
                                                    : fmt::format("{}-{}", fallback_name, i);
        genotypes.push_back({std::move(name), parsed.genotype});
    }
    return genotypes;
}

const std::vector<NamedGenotype>& genotype_zoo() {
    static const std::vector<NamedGenotype> zoo =
        parse_genotype_list(zoo_genotypes_text, "data/zoo/genotypes.txt", "zoo");
    return zoo;
}

std::optional<NamedGenotype> find_in_zoo(std::string_view name) {
    const std::string wanted = lowercase(name);
    for (const NamedGenotype& entry : genotype_zoo())
        if (lowercase(entry.name) == wanted) return entry;
    return std::nullopt;
}

}  // namespace cellscape
