#pragma once
// One table of a TOML settings file, read key by key into settings structs:
// every read names its key, so a key nobody read is reported as unknown
// (a typo is an error, not a silently ignored setting), and every error
// names the file, the table, the key and the problem
// ("quick.toml: [analysis.hessian] tol: has the wrong type (expected a number)").
//
// The study config (study/study_config.cpp) and each analysis's own reader
// of its table (e.g. analysis/hessian_settings.hpp) read through it. toml11
// stays inside toml_table.cpp: this header names no toml11 type, so it can
// be installed and included by code built without toml11.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cellscape/util/error.hpp"
#include "cellscape/util/names.hpp"

namespace cellscape {

// "file: [section] key: problem" (no brackets for the top level).
Error toml_setting_error(const std::filesystem::path& file, const std::string& section, const std::string& key,
                         const std::string& problem);

class TomlTable {
public:
    // The top-level table of a TOML file; Error naming the file when it is
    // not valid TOML (or cannot be read).
    static TomlTable parse_file(const std::filesystem::path& file);

    // Each read marks `key` known and leaves `target` as it is when the key
    // is absent; a value of another type is an error naming the key.
    void read(const std::string& key, bool& target);
    void read(const std::string& key, int& target);
    void read(const std::string& key, int64_t& target);
    void read(const std::string& key, double& target);
    void read(const std::string& key, std::string& target);
    void read(const std::string& key, std::vector<std::string>& target);
    void read(const std::string& key, std::vector<int64_t>& target);
    // A seed, by util/seed.hpp's rule, applied to the text as written:
    // toml11 saturates a decimal integer beyond 2^63 - 1 without an error.
    void read_seed(const std::string& key, uint64_t& target);
    // A list of seeds, each by the same rule (the list as written; duplicates are the caller's to judge).
    void read_seeds(const std::string& key, std::vector<uint64_t>& target);

    // A name of an enum's value (util/names.hpp), or a list of them.
    template <typename Enum>
    void read_name(const std::string& key, Enum& target) {
        std::string text;
        read(key, text);
        if (has(key)) target = parse_enum<Enum>(key, text);
    }
    template <typename Enum>
    void read_name(const std::string& key, std::optional<Enum>& target) {
        std::string text;
        read(key, text);
        if (has(key)) target = parse_enum<Enum>(key, text);
    }
    template <typename Enum>
    void read_names(const std::string& key, std::vector<Enum>& target) {
        std::vector<std::string> texts;
        read(key, texts);
        if (!has(key)) return;
        target.clear();
        for (const auto& text : texts) target.push_back(parse_enum<Enum>(key, text));
    }

    bool has(const std::string& key) const;
    // The sub-table `key` (an empty table when absent); an error when `key` is not a table.
    TomlTable table(const std::string& key);
    // An error about `key` of this table.
    Error error(const std::string& key, const std::string& problem) const;
    // A SettingError thrown by `check` as an error about its setting in this
    // table (the setting's name is the key).
    template <typename Check>
    void check(Check&& check) const {
        try {
            check();
        } catch (const SettingError& wrong) {
            throw error(wrong.setting(), wrong.problem());
        }
    }
    // An error naming every key of this table that no read asked for.
    void reject_unknown_keys() const;

    const std::filesystem::path& file() const { return file_; }
    const std::string& name() const { return name_; }  // "analysis.hessian"; empty at the top level

private:
    struct Document;  // the parsed file (toml_table.cpp)
    TomlTable(std::shared_ptr<const Document> document, const void* table, std::string name);
    template <typename Enum>
    Enum parse_enum(const std::string& key, const std::string& text) const {
        try {
            return parse_name<Enum>(text, key);
        } catch (const SettingError& wrong) {
            throw error(key, wrong.problem());
        }
    }
    const void* value(const std::string& key) const;  // the toml11 value of `key`, or null

    std::shared_ptr<const Document> document_;
    const void* table_;  // a toml::value inside document_ (or the shared empty table)
    std::string name_;
    std::filesystem::path file_;
    std::set<std::string> known_;
};

}  // namespace cellscape
