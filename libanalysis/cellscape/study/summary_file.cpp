#include "cellscape/study/summary_file.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <tuple>
#include <type_traits>

#include "cellscape/io/column_table.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/study/replicates.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape {

void write_study_summary(const std::filesystem::path& path, const StudyConfig& config, const StudyResult& result,
                         const std::string& command) {
    write_hdf5_atomically(path, [&](Hdf5File& file) {
        write_standard_attributes(file, study_summary_format, study_summary_format_version, command);
        file.set_attribute("/", "name", config.name);
        file.set_attribute("/", "dataset", config.training.dataset);
        file.set_attribute("/", "loss_threshold", config.loss_threshold);
        file.set_attribute("/", "basin_level", config.surface.basin_level);
        file.set_attribute("/", "replicated", static_cast<int64_t>(config.replicated()));
        const std::vector<uint64_t> study = study_seeds(config);
        std::vector<int64_t> seeds(study.begin(), study.end());
        file.write("seeds", torch::tensor(seeds, torch::kInt64));
        write_column_table(file, "replicates", replicates_table(result.rows));
        write_column_table(file, "cells", cells_table(result.cells));
        write_column_table(file, "associations", associations_table(result.associations));
        write_column_table(file, "metric_associations", metric_associations_table(result.metric_associations));
        write_column_table(file, "mediation", mediation_table(result.mediation));
        if (!result.parts.empty()) write_column_table(file, "parts", parts_table(result.parts));
        const StudyStatistics& statistics = config.statistics;
        file.set_attribute("/", "alpha", statistics.alpha);
        file.set_attribute("/", "power", statistics.power);
        file.set_attribute("/", "equivalence_bound", statistics.equivalence_bound);
        file.set_attribute("/", "bootstrap_samples", statistics.bootstrap_samples);
        file.set_attribute("/", "permutations", statistics.permutations);
        file.set_attribute("/", "power_simulations", statistics.power_simulations);
    });
}

namespace {

// What a study writes and a plan or a figure relies on: one row per cell,
// seed and epoch of a population, seeds in range, durations not negative
// (NaN: not recorded). A table that breaks it was edited or damaged.
void check_replicates_table(const std::vector<StudyRow>& rows, const std::filesystem::path& summary) {
    auto damaged = [&](const std::string& problem) {
        return Error(fmt::format("{}: the replicates table {}, which no study writes: the file is damaged or was "
                                 "edited; summarize the study again from its replicates (collect it)",
                                 summary.string(), problem));
    };
    std::map<std::tuple<std::string, std::string, int64_t, int64_t>, std::size_t> seen;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const StudyRow& row = rows[i];
        if (row.seed < 0) throw damaged(fmt::format("gives row {} ({}) the seed {}", i, row.cell, row.seed));
        for (const auto& [name, seconds] : {std::pair{"train_seconds", row.train_seconds},
                                            std::pair{"analysis_seconds", row.analysis_seconds}})
            if (seconds < 0 || std::isinf(seconds))
                throw damaged(fmt::format("gives row {} ({} seed {}) {} = {}", i, row.cell, row.seed, name, seconds));
        const auto [found, inserted] = seen.emplace(std::tuple{row.population, row.cell, row.seed, row.epoch}, i);
        if (!inserted)
            throw damaged(fmt::format("lists {} seed {} at epoch {} twice (rows {} and {})", row.cell, row.seed,
                                      row.epoch, found->second, i));
    }
}

// The replicates table's columns read into rows, one column at a time;
// every column must have one entry per row (the cell column's count).
class ReplicateColumns {
public:
    ReplicateColumns(const Hdf5File& file, std::filesystem::path summary)
        : file_(file), summary_(std::move(summary)), rows_(file.read_strings(group_ + "cell").size()) {}

    void strings(const std::string& name, std::string StudyRow::*field, const char* missing) {
        const bool present = file_.contains(group_ + name);
        const auto values = present ? file_.read_strings(group_ + name) : std::vector<std::string>(rows_.size(), missing);
        require_size(name, values.size());
        for (std::size_t i = 0; i < rows_.size(); ++i) rows_[i].*field = values[i];
    }

    template <typename Value>
    void numbers(const std::string& name, Value StudyRow::*field, bool required) {
        if (!file_.contains(group_ + name)) {
            if (required)
                throw Error(fmt::format("{}: the replicates table has no column {}: not a study summary cellscape "
                                        "can read",
                                        summary_.string(), name));
            return;
        }
        // Integer columns as integers: a seed above 2^53 would not survive a double.
        constexpr bool integer = std::is_integral_v<Value>;
        const torch::Tensor values =
            file_.read(group_ + name).to(integer ? torch::kInt64 : torch::kFloat64).contiguous();
        require_size(name, static_cast<std::size_t>(values.numel()));
        for (std::size_t i = 0; i < rows_.size(); ++i) {
            if constexpr (integer)
                rows_[i].*field = static_cast<Value>(values.data_ptr<int64_t>()[i]);
            else
                rows_[i].*field = static_cast<Value>(values.data_ptr<double>()[i]);
        }
    }

    std::vector<StudyRow> rows() && { return std::move(rows_); }

private:
    void require_size(const std::string& name, std::size_t size) const {
        if (size != rows_.size())
            throw Error(fmt::format("{}: the replicates table's column {} has {} entries where {} has {}; the file is "
                                    "damaged: summarize the study again from its replicates (collect it)",
                                    summary_.string(), name, size, "cell", rows_.size()));
    }

    const Hdf5File& file_;
    std::filesystem::path summary_;
    const std::string group_ = "replicates/";
    std::vector<StudyRow> rows_;
};

}  // namespace

std::vector<StudyRow> read_study_replicates(const std::filesystem::path& summary) {
    if (std::filesystem::is_directory(summary)) return read_study_replicates(summary / "summary.h5");
    if (!std::filesystem::is_regular_file(summary))
        throw Error(fmt::format("{} does not exist: name a finished study's directory or its summary.h5",
                                summary.string()));
    const Hdf5File file(summary, Hdf5File::Mode::read);
    try {
        require_format(file, study_summary_format, study_summary_format_version);
    } catch (const Hdf5Error& error) {
        throw Error(fmt::format("{}: name a finished study's directory or its summary.h5", error.what()));
    }
    ReplicateColumns columns(file, summary);
    columns.strings("cell", &StudyRow::cell, "");
    columns.strings("genotype", &StudyRow::genotype, "");
    columns.strings("status", &StudyRow::status, "");
    columns.strings("directory", &StudyRow::directory, "");
    columns.strings("population", &StudyRow::population, "all");
    columns.numbers("seed", &StudyRow::seed, true);
    columns.numbers("normal_width", &StudyRow::normal_width, true);
    columns.numbers("normal_depth", &StudyRow::normal_depth, true);
    columns.numbers("reduce_width", &StudyRow::reduce_width, true);
    columns.numbers("reduce_depth", &StudyRow::reduce_depth, true);
    columns.numbers("parameters", &StudyRow::parameters, true);
    columns.numbers("epoch", &StudyRow::epoch, true);
    for (const StudyMetric& metric : study_metrics()) columns.numbers(metric.name, metric.field, !metric.optional());
    columns.numbers("censored", &StudyRow::censored, false);
    columns.numbers("last_epoch_share", &StudyRow::last_epoch_share, false);
    columns.numbers("train_seconds", &StudyRow::train_seconds, false);
    columns.numbers("analysis_seconds", &StudyRow::analysis_seconds, false);
    std::vector<StudyRow> rows = std::move(columns).rows();
    check_replicates_table(rows, summary);
    return rows;
}

}  // namespace cellscape
