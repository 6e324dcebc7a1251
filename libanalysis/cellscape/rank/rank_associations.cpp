#include "cellscape/rank/rank_associations.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "cellscape/util/error.hpp"
#include "cellscape/util/hash.hpp"

namespace cellscape {

void RankOptions::validate() const {
    if (association.bootstrap_samples < 100)
        throw SettingError("bootstrap_samples", fmt::format("is {}; a 95% interval needs at least 100 resamples "
                                                            "(2000 is the default)",
                                                            association.bootstrap_samples));
    if (association.permutations < 100)
        throw SettingError("permutations", fmt::format("is {}; a p-value needs at least 100 permutations (5000 is "
                                                       "the default)",
                                                       association.permutations));
    if (!(top_fraction > 0 && top_fraction <= 0.5))
        throw SettingError("top_fraction", fmt::format("is {}; give the best share as a fraction in (0, 0.5], e.g. "
                                                       "0.1 for the best 10%",
                                                       top_fraction));
}

namespace {

// One row: the cells with a finite metric, their means against the value.
RankAssociationRow associate_row(const RankMetric& metric, const RankValue& value,
                                 const std::vector<std::vector<double>>& content, const RankOptions& options,
                                 uint64_t seed) {
    RankAssociationRow row;
    row.metric = metric.name;
    row.kind = metric.kind;
    row.value = value.name;
    std::vector<double> means, values;
    std::vector<std::vector<double>> controls(content.size());
    for (std::size_t c = 0; c < metric.replicates.size(); ++c) {
        const double mean = finite_mean(metric.replicates[c]);
        if (!std::isfinite(mean)) continue;
        means.push_back(mean);
        values.push_back(value.values[c]);
        for (std::size_t k = 0; k < content.size(); ++k) controls[k].push_back(content[k][c]);
    }
    row.cells = static_cast<int64_t>(means.size());
    AssociationOptions association = options.association;
    association.seed = seed;
    row.association = rank_association(means, values, association);
    row.kendall_tau = kendall_tau_b(means, values);
    row.partial = partial_associate(means, values, controls, association);
    if (!means.empty()) {
        row.top_overlap = top_overlap(means, values, options.top_fraction);
        const auto k = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(
                                                    options.top_fraction * static_cast<double>(means.size()))));
        row.top_chance = static_cast<double>(k) / static_cast<double>(means.size());
    }
    return row;
}

}  // namespace

std::vector<RankAssociationRow> rank_associations(const std::vector<RankMetric>& metrics,
                                                  const std::vector<RankValue>& values,
                                                  const std::vector<std::vector<double>>& operation_content,
                                                  const RankOptions& options, ProgressSink* progress) {
    options.validate();
    const ProgressTask task(progress, "associations", static_cast<int64_t>(metrics.size() * values.size()), "rows");
    std::vector<RankAssociationRow> rows;
    for (const RankValue& value : values)
        for (const RankMetric& metric : metrics) {
            // Each row its own stream of draws, so a row's interval does not move when another metric is added.
            Fnv1a stream;
            stream.add(metric.name + "\n" + value.name);
            const uint64_t seed = options.association.seed ^ stream.value();
            rows.push_back(associate_row(metric, value, operation_content, options, seed));
            task.update(static_cast<int64_t>(rows.size()), fmt::format("{} ~ {}", metric.name, value.name));
        }
    std::vector<double> p, partial_p;
    for (const auto& row : rows) {
        p.push_back(row.association.p_value);
        partial_p.push_back(row.partial.p_value);
    }
    const std::vector<double> adjusted = holm_adjusted(p), partial_adjusted = holm_adjusted(partial_p);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        rows[i].p_holm = adjusted[i];
        rows[i].partial_p_holm = partial_adjusted[i];
    }
    return rows;
}

std::vector<RankGroupRow> rank_groups(const std::vector<RankMetric>& metrics, const std::vector<RankValue>& values,
                                      const std::vector<std::string>& groupings) {
    std::vector<RankGroupRow> rows;
    for (const std::string& grouping : groupings) {
        const auto metric = std::find_if(metrics.begin(), metrics.end(), [&](const auto& m) { return m.name == grouping; });
        if (metric == metrics.end()) throw Error(fmt::format("internal: no metric '{}' to group by", grouping));
        for (const RankValue& value : values) {
            std::map<double, std::vector<double>> groups;
            for (std::size_t c = 0; c < metric->replicates.size(); ++c)
                groups[finite_mean(metric->replicates[c])].push_back(value.values[c]);
            for (const auto& [group, members] : groups)
                if (std::isfinite(group)) rows.push_back({grouping, group, value.name, mean_interval(members)});
        }
    }
    return rows;
}

}  // namespace cellscape
