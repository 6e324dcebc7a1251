#include "cellscape/rank/rank_report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "cellscape/util/error.hpp"

namespace cellscape {

std::vector<RankMetric> rank_metrics(const StructuralFeatures& features, const std::optional<RankProxyScores>& proxies) {
    std::vector<RankMetric> metrics;
    for (std::size_t m = 0; m < features.metric_names.size(); ++m) {
        RankMetric metric{features.metric_names[m], "structure", {}};
        for (double value : features.metrics[m]) metric.replicates.push_back({value});
        metrics.push_back(std::move(metric));
    }
    if (proxies)
        for (std::size_t p = 0; p < proxies->proxies.size(); ++p)
            metrics.push_back({std::string(name_of(proxies->proxies[p])), "proxy", proxies->scores[p]});
    return metrics;
}

std::vector<RankValue> rank_values(const CellTable& table) {
    std::vector<RankValue> values;
    for (std::size_t v = 0; v < table.value_names.size(); ++v) {
        RankValue value{table.value_names[v], {}};
        for (const TableCell& cell : table.cells) value.values.push_back(cell.values[v]);
        values.push_back(std::move(value));
    }
    return values;
}

ColumnTable rank_cells_table(const RankResult& result) {
    ColumnTable table;
    const auto& cells = result.table.cells;
    std::vector<int64_t> index, rows;
    std::vector<std::string> names, genotypes, lines;
    for (std::size_t c = 0; c < cells.size(); ++c) {
        index.push_back(static_cast<int64_t>(c));
        names.push_back(cells[c].name);
        genotypes.push_back(format_genotype(cells[c].genotype));
        lines.push_back(fmt::format("{}", fmt::join(cells[c].lines, ";")));
        rows.push_back(static_cast<int64_t>(cells[c].lines.size()));
    }
    table.columns = {{"cell", index}, {"name", names}, {"genotype", genotypes}, {"lines", lines}, {"rows", rows}};
    for (const RankValue& value : rank_values(result.table)) table.columns.emplace_back(value.name, value.values);
    const StructuralFeatures& f = result.features;
    for (std::size_t m = 0; m < f.metric_names.size(); ++m) table.columns.emplace_back(f.metric_names[m], f.metrics[m]);
    for (std::size_t m = 0; m < f.count_names.size(); ++m) table.columns.emplace_back(f.count_names[m], f.counts[m]);
    for (std::size_t m = 0; m < f.operation_names.size(); ++m)
        table.columns.emplace_back("operations_" + f.operation_names[m], f.operations[m]);
    if (result.proxies)
        for (std::size_t p = 0; p < result.proxies->proxies.size(); ++p) {
            std::vector<MeanInterval> summaries;
            for (const auto& replicates : result.proxies->scores[p]) summaries.push_back(mean_interval(replicates));
            const std::string name(name_of(result.proxies->proxies[p]));
            // Over the seeds: the mean, its spread, and the Student-t 95% interval of the mean (NaN under 2 seeds).
            add_column(table, name, summaries, [](const MeanInterval& s) { return s.n > 0 ? s.mean : NAN; });
            add_column(table, name + "_std", summaries, [](const MeanInterval& s) { return s.n > 1 ? s.std : NAN; });
            add_column(table, name + "_ci_low", summaries, [](const MeanInterval& s) { return s.n > 1 ? s.low : NAN; });
            add_column(table, name + "_ci_high", summaries, [](const MeanInterval& s) { return s.n > 1 ? s.high : NAN; });
            add_column(table, name + "_n", summaries, [](const MeanInterval& s) { return s.n; });
        }
    return table;
}

ColumnTable rank_associations_table(const RankResult& result) {
    ColumnTable table;
    const auto& rows = result.associations;
    using Row = RankAssociationRow;
    add_column(table, "metric", rows, [](const Row& row) { return row.metric; });
    add_column(table, "kind", rows, [](const Row& row) { return row.kind; });
    add_column(table, "value", rows, [](const Row& row) { return row.value; });
    add_column(table, "cells", rows, [](const Row& row) { return row.cells; });
    add_column(table, "rho", rows, [](const Row& row) { return row.association.rho; });
    add_column(table, "ci_low", rows, [](const Row& row) { return row.association.low; });
    add_column(table, "ci_high", rows, [](const Row& row) { return row.association.high; });
    add_column(table, "p_value", rows, [](const Row& row) { return row.association.p_value; });
    add_column(table, "p_holm", rows, [](const Row& row) { return row.p_holm; });
    add_column(table, "permutations", rows, [](const Row& row) { return row.association.permutations; });
    add_column(table, "exact", rows, [](const Row& row) { return int64_t{row.association.exact}; });
    add_column(table, "kendall_tau", rows, [](const Row& row) { return row.kendall_tau; });
    add_column(table, "partial_rho", rows, [](const Row& row) { return row.partial.rho; });
    add_column(table, "partial_ci_low", rows, [](const Row& row) { return row.partial.low; });
    add_column(table, "partial_ci_high", rows, [](const Row& row) { return row.partial.high; });
    add_column(table, "partial_p_value", rows, [](const Row& row) { return row.partial.p_value; });
    add_column(table, "partial_p_holm", rows, [](const Row& row) { return row.partial_p_holm; });
    add_column(table, "top_overlap", rows, [](const Row& row) { return row.top_overlap; });
    add_column(table, "top_chance", rows, [](const Row& row) { return row.top_chance; });
    return table;
}

ColumnTable rank_groups_table(const RankResult& result) {
    ColumnTable table;
    const auto& rows = result.groups;
    using Row = RankGroupRow;
    add_column(table, "grouping", rows, [](const Row& row) { return row.grouping; });
    add_column(table, "group", rows, [](const Row& row) { return row.group; });
    add_column(table, "value", rows, [](const Row& row) { return row.value; });
    add_column(table, "n", rows, [](const Row& row) { return row.mean.n; });
    add_column(table, "mean", rows, [](const Row& row) { return row.mean.mean; });
    add_column(table, "std", rows, [](const Row& row) { return row.mean.std; });
    add_column(table, "ci_low", rows, [](const Row& row) { return row.mean.low; });
    add_column(table, "ci_high", rows, [](const Row& row) { return row.mean.high; });
    return table;
}

ColumnTable rank_bad_rows_table(const RankResult& result) {
    std::vector<int64_t> lines;
    std::vector<std::string> reasons;
    for (const BadRow& row : result.table.bad_rows) {
        lines.push_back(row.line);
        reasons.push_back(row.reason);
    }
    ColumnTable table;
    table.columns = {{"line", lines}, {"reason", reasons}};
    return table;
}

ColumnTable rank_proxy_seeds_table(const RankResult& result) {
    ColumnTable table;
    if (!result.proxies) return table;
    std::vector<int64_t> cells, seeds;
    const std::size_t cell_count = result.table.cells.size();
    for (std::size_t c = 0; c < cell_count; ++c)
        for (uint64_t seed : result.seeds) {
            cells.push_back(static_cast<int64_t>(c));
            seeds.push_back(static_cast<int64_t>(seed));
        }
    table.columns = {{"cell", cells}, {"seed", seeds}};
    for (std::size_t p = 0; p < result.proxies->proxies.size(); ++p) {
        std::vector<double> scores;
        for (std::size_t c = 0; c < cell_count; ++c)
            for (double score : result.proxies->scores[p][c]) scores.push_back(score);
        table.columns.emplace_back(std::string(name_of(result.proxies->proxies[p])), scores);
    }
    return table;
}

namespace {

void write_attributes(Hdf5File& file, const RankResult& result) {
    file.set_attribute("/", "source", result.source.string());
    file.set_attribute("/", "genotype_column", result.table.genotype_column);
    file.set_attribute("/", "rows", result.table.rows);
    file.set_attribute("/", "duplicate_rows", result.table.duplicate_rows);
    file.set_attribute("/", "values", fmt::format("{}", fmt::join(result.table.value_names, ",")));
    file.set_attribute("/", "network", result.network.to_json().dump());
    file.set_attribute("/", "bootstrap_samples", result.options.association.bootstrap_samples);
    file.set_attribute("/", "permutations", result.options.association.permutations);
    file.set_attribute("/", "statistics_seed", static_cast<int64_t>(result.options.association.seed));
    file.set_attribute("/", "top_fraction", result.options.top_fraction);
    file.set_attribute("/", "alpha", result.options.alpha);
    std::vector<std::string> proxies;
    if (result.proxies)
        for (Proxy proxy : result.proxies->proxies) proxies.emplace_back(name_of(proxy));
    file.set_attribute("/", "proxies", fmt::format("{}", fmt::join(proxies, ",")));
    file.set_attribute("/", "seeds", fmt::format("{}", fmt::join(result.seeds, ",")));
}

}  // namespace

void write_rank_file(const std::filesystem::path& path, const RankResult& result, const OutputRecord& record) {
    write_hdf5_atomically(path, [&](Hdf5File& file) {
        write_standard_attributes(file, rank_format, rank_format_version, record);
        write_attributes(file, result);
        write_column_table(file, "cells", rank_cells_table(result));
        write_column_table(file, "associations", rank_associations_table(result));
        write_column_table(file, "groups", rank_groups_table(result));
        write_column_table(file, "bad_rows", rank_bad_rows_table(result));
        if (result.proxies) write_column_table(file, "proxy_seeds", rank_proxy_seeds_table(result));
    });
}

nlohmann::ordered_json rank_json(const RankResult& result) {
    nlohmann::ordered_json json;
    json["source"] = result.source.string();
    json["rows"] = result.table.rows;
    json["cells"] = result.table.cells.size();
    json["duplicate_rows"] = result.table.duplicate_rows;
    json["bad_rows"] = column_table_json(rank_bad_rows_table(result));
    json["values"] = result.table.value_names;
    json["network"] = result.network.to_json();
    json["associations"] = column_table_json(rank_associations_table(result));
    json["groups"] = column_table_json(rank_groups_table(result));
    json["cell_table"] = column_table_json(rank_cells_table(result));
    return json;
}

namespace {

std::string interval(double rho, double low, double high) {
    if (!std::isfinite(rho)) return "undefined";
    if (!std::isfinite(low)) return fmt::format("{:+.2f}", rho);
    return fmt::format("{:+.2f} [{:+.2f}, {:+.2f}]", rho, low, high);
}

std::string p_text(double p) { return std::isfinite(p) ? fmt::format("{:.3g}", p) : "-"; }

std::string associations_text(const RankResult& result, const std::string& value) {
    std::vector<const RankAssociationRow*> rows;
    for (const auto& row : result.associations)
        if (row.value == value) rows.push_back(&row);
    std::stable_sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
        const double x = std::isfinite(a->association.rho) ? std::abs(a->association.rho) : -1;
        const double y = std::isfinite(b->association.rho) ? std::abs(b->association.rho) : -1;
        return x > y;
    });
    std::string out = fmt::format("{:<28} {:>5}  {:<23} {:>8} {:>6}  {:<23} {:>8}  {:>9}\n", "metric", "cells",
                                  "rho [95% CI]", "p Holm", "tau", "rho | operations", "p Holm",
                                  fmt::format("top {:.0f}%", 100 * result.options.top_fraction));
    for (const auto* row : rows)
        out += fmt::format("{:<28} {:>5}  {:<23} {:>8} {:>6}  {:<23} {:>8}  {:>9}\n", row->metric, row->cells,
                           interval(row->association.rho, row->association.low, row->association.high),
                           p_text(row->p_holm),
                           std::isfinite(row->kendall_tau) ? fmt::format("{:+.2f}", row->kendall_tau) : "-",
                           interval(row->partial.rho, row->partial.low, row->partial.high),
                           p_text(row->partial_p_holm),
                           std::isfinite(row->top_overlap) ? fmt::format("{:.2f}/{:.2f}", row->top_overlap, row->top_chance)
                                                           : "-");
    return out;
}

std::string groups_text(const RankResult& result, const std::string& value) {
    std::string out;
    for (const std::string& grouping : {std::string("normal_width"), std::string("normal_depth")}) {
        out += fmt::format("  by {}:", grouping);
        for (const RankGroupRow& row : result.groups)
            if (row.grouping == grouping && row.value == value)
                out += fmt::format("  {:g}: {:.4g}{} (n={})", row.group, row.mean.mean,
                                   std::isfinite(row.mean.low) ? fmt::format(" [{:.4g}, {:.4g}]", row.mean.low, row.mean.high)
                                                               : "",
                                   row.mean.n);
        out += "\n";
    }
    return out;
}

}  // namespace

std::string format_rank_report(const RankResult& result) {
    const CellTable& table = result.table;
    std::string out = fmt::format(
        "{}: {} rows, {} cells ({} rows merged into an earlier row's cell, {} skipped); networks of {} channels, {} "
        "cells, {}x{}x{} inputs\n",
        result.source.string(), table.rows, table.cells.size(), table.duplicate_rows, table.bad_rows.size(),
        result.network.init_channels, result.network.layers, result.network.input_shape[0],
        result.network.input_shape[1], result.network.input_shape[2]);
    if (result.proxies)
        for (std::size_t p = 0; p < result.proxies->proxies.size(); ++p)
            if (result.proxies->refused[p] > 0)
                out += fmt::format("{}: refused for {} cell-seeds ({})\n", name_of(result.proxies->proxies[p]),
                                   result.proxies->refused[p], result.proxies->first_refusal[p]);
    for (const std::string& value : table.value_names) {
        out += fmt::format("\n{}: Spearman's rho with its 95% bootstrap interval, Holm over the table; partial rho "
                           "with the operation content held fixed; top-share overlap / chance\n",
                           value);
        out += associations_text(result, value);
        out += groups_text(result, value);
    }
    return out;
}

}  // namespace cellscape
