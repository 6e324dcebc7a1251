#include "cellscape/io/toml_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <toml.hpp>
#include <type_traits>

#include "cellscape/util/seed.hpp"

namespace cellscape {

struct TomlTable::Document {
    toml::value root;
};

namespace {

const toml::value& as_value(const void* value) { return *static_cast<const toml::value*>(value); }

const toml::value& empty_table() {
    static const toml::value table(toml::table{});  // (braces would make an array)
    return table;
}

// How `value` is spelled in its file (underscores dropped): toml11 reads a
// decimal integer beyond 64 bits (18446744073709551615) as 2^63 - 1
// without an error, so a seed's rule is applied to its text, not to the
// number toml11 made of it.
std::string toml_text(const toml::value& value) {
    const toml::source_location where = value.location();
    const std::string& line = where.line_str();
    std::string text = where.column() >= 1 && where.column() - 1 + where.region() <= line.size()
                           ? line.substr(where.column() - 1, where.region())
                           : toml::format(value);
    if (value.is_integer()) text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    return text;
}

// The seed a TOML value spells by util/seed.hpp's rule, or nullopt. TOML's
// hexadecimal, octal and binary integers (0x2A, 0o52, 0b101010) are whole
// numbers too: read in their base, within the same bound.
std::optional<uint64_t> seed_of_toml(const toml::value& value) {
    if (!value.is_integer()) return std::nullopt;
    const std::string text = toml_text(value);
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o' || text[1] == 'b')) {
        const int base = text[1] == 'x' ? 16 : text[1] == 'o' ? 8 : 2;
        uint64_t parsed = 0;
        const auto [end, error] = std::from_chars(text.data() + 2, text.data() + text.size(), parsed, base);
        if (error != std::errc() || end != text.data() + text.size() || parsed > max_seed) return std::nullopt;
        return parsed;
    }
    return parse_seed(text);
}

template <typename T>
const char* type_name() {
    if constexpr (std::is_same_v<T, bool>) return "true or false";
    else if constexpr (std::is_same_v<T, std::string>) return "a string";
    else if constexpr (std::is_floating_point_v<T>) return "a number";
    else if constexpr (std::is_integral_v<T>) return "an integer";
    else return "a list";
}

template <typename T>
void read_value(TomlTable& table, const void* value, const std::string& key, T& target) {
    if (!value) return;
    try {
        target = toml::get<T>(as_value(value));
    } catch (const std::exception&) {
        throw table.error(key, fmt::format("has the wrong type (expected {})", type_name<T>()));
    }
}

}  // namespace

Error toml_setting_error(const std::filesystem::path& file, const std::string& section, const std::string& key,
                         const std::string& problem) {
    return Error(fmt::format("{}: {}{}: {}", file.string(), section.empty() ? "" : "[" + section + "] ", key, problem));
}

TomlTable::TomlTable(std::shared_ptr<const Document> document, const void* table, std::string name)
    : document_(std::move(document)), table_(table), name_(std::move(name)) {}

TomlTable TomlTable::parse_file(const std::filesystem::path& file) {
    auto document = std::make_shared<Document>();
    try {
        document->root = toml::parse(file.string());
    } catch (const std::exception& error) {
        throw Error(fmt::format("{} is not valid TOML: {}", file.string(), error.what()));
    }
    const void* root = &document->root;
    TomlTable table(std::move(document), root, "");
    table.file_ = file;
    return table;
}

const void* TomlTable::value(const std::string& key) const {
    const toml::value& table = as_value(table_);
    return table.is_table() && table.contains(key) ? &table.at(key) : nullptr;
}

bool TomlTable::has(const std::string& key) const { return value(key) != nullptr; }

void TomlTable::read(const std::string& key, bool& target) { known_.insert(key), read_value(*this, value(key), key, target); }
void TomlTable::read(const std::string& key, int& target) { known_.insert(key), read_value(*this, value(key), key, target); }
void TomlTable::read(const std::string& key, int64_t& target) {
    known_.insert(key), read_value(*this, value(key), key, target);
}
void TomlTable::read(const std::string& key, double& target) {
    known_.insert(key), read_value(*this, value(key), key, target);
}
void TomlTable::read(const std::string& key, std::string& target) {
    known_.insert(key), read_value(*this, value(key), key, target);
}
void TomlTable::read(const std::string& key, std::vector<std::string>& target) {
    known_.insert(key), read_value(*this, value(key), key, target);
}
void TomlTable::read(const std::string& key, std::vector<int64_t>& target) {
    known_.insert(key), read_value(*this, value(key), key, target);
}

void TomlTable::read_seed(const std::string& key, uint64_t& target) {
    known_.insert(key);
    const void* found = value(key);
    if (!found) return;
    const auto seed = seed_of_toml(as_value(found));
    if (!seed) throw error(key, fmt::format("is {}; {}", toml_text(as_value(found)), seed_rule()));
    target = *seed;
}

void TomlTable::read_seeds(const std::string& key, std::vector<uint64_t>& target) {
    std::vector<int64_t> numbers;
    read(key, numbers);  // a list of integers, or the type error
    const void* found = value(key);
    if (!found) return;
    target.clear();
    for (const toml::value& element : as_value(found).as_array()) {
        const auto seed = seed_of_toml(element);
        if (!seed) throw error(key, fmt::format("has {}; {}", toml_text(element), seed_rule()));
        target.push_back(*seed);
    }
}

TomlTable TomlTable::table(const std::string& key) {
    known_.insert(key);
    const std::string where = name_.empty() ? key : name_ + "." + key;
    const void* found = value(key);
    if (found && !as_value(found).is_table()) throw error(key, fmt::format("must be a table ([{}])", where));
    TomlTable sub(document_, found ? found : &empty_table(), where);
    sub.file_ = file_;
    return sub;
}

Error TomlTable::error(const std::string& key, const std::string& problem) const {
    return toml_setting_error(file_, name_, key, problem);
}

void TomlTable::reject_unknown_keys() const {
    const toml::value& table = as_value(table_);
    if (!table.is_table()) return;
    for (const auto& [key, value] : table.as_table())
        if (!known_.count(key))
            throw error(key,
                        fmt::format("is not a known key; known here: {} (see docs/study.md)", fmt::join(known_, ", ")));
}

}  // namespace cellscape
