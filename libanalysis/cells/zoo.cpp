#include "cells/zoo.hpp"

#include <fmt/format.h>

#include <cctype>
#include <regex>
#include <string>

#include "util/error.hpp"

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

}  // namespace

std::vector<NamedGenotype> parse_genotype_list(std::string_view text, std::string_view origin,
                                               std::string_view fallback_name) {
    static const std::regex statement_start(R"(^\s*([A-Za-z_][A-Za-z0-9_]*\s*=\s*)?Genotype\s*\()");
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
            if (!std::regex_search(line, statement_start)) continue;
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
