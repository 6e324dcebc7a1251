#pragma once
// The association table of `cellscape rank` (docs/rank.md): every metric of
// the cells (structure, zero-cost proxies) against every value column the
// analyst brought (accuracies), with the rank statistics NAS ranking papers
// report and the intervals and tests they usually do not. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "cellscape/stats/rank_correlation.hpp"
#include "cellscape/stats/statistics.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {

// A metric of the cells: per cell, its replicates (one value for a
// structural metric, one per seed for a proxy; NaN where a replicate has no
// value). A cell's value is the mean of its finite replicates.
struct RankMetric {
    std::string name;
    std::string kind;  // "structure" or "proxy"
    std::vector<std::vector<double>> replicates;
};

struct RankValue {
    std::string name;
    std::vector<double> values;  // per cell
};

struct RankOptions {
    AssociationOptions association;  // bootstrap samples, permutations, seed
    double top_fraction = 0.1;       // the best share whose overlap is reported
    double alpha = 0.05;             // for the verdict column only

    void validate() const;  // SettingError naming the field
};

struct RankAssociationRow {
    std::string metric, kind, value;
    int64_t cells = 0;  // with a finite metric
    // Spearman's rho of the cells' metric means against the value, its 95%
    // bootstrap interval (cells resampled), the permutation p-value and its
    // Holm adjustment over every row of the table (one family).
    Association association;
    double p_holm = NAN;
    double kendall_tau = NAN;  // tau-b of the same pairs
    // rho with the operation content held fixed (rank_features.hpp,
    // operation_content): interval, permutation p, Holm over the table's
    // partial rows (a second family). NaN where the content explains the
    // metric (the parameterized edges themselves, and parameters and
    // multiply-adds when they are a function of it).
    PartialAssociation partial;
    double partial_p_holm = NAN;
    // Of the top_fraction of cells by value, the share the metric's
    // highest top_fraction also holds (top_chance: the share chance gives).
    double top_overlap = NAN, top_chance = NAN;
};

std::vector<RankAssociationRow> rank_associations(const std::vector<RankMetric>& metrics,
                                                  const std::vector<RankValue>& values,
                                                  const std::vector<std::vector<double>>& operation_content,
                                                  const RankOptions& options, ProgressSink* progress = nullptr);

// The value's mean over the cells of one group (cells of one width or one
// depth), with its Student-t interval.
struct RankGroupRow {
    std::string grouping;  // normal_width, normal_depth, reduce_width, reduce_depth
    double group = 0;      // the width or depth
    std::string value;
    MeanInterval mean;
};

// Groups by every metric in `groupings` (by name among `metrics`), ascending.
std::vector<RankGroupRow> rank_groups(const std::vector<RankMetric>& metrics, const std::vector<RankValue>& values,
                                      const std::vector<std::string>& groupings);

}  // namespace cellscape
