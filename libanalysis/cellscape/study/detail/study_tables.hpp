#pragma once
// What the study's tables share (not installed; defined in study/study_tables.cpp):
// the rows grouped by epoch, cell and population, the statistics' options
// from [statistics], and Holm within families. Used by study_tables.cpp and
// study_associations.cpp.
#include <cmath>
#include <cstdint>
#include <map>
#include <type_traits>
#include <string>
#include <vector>

#include "cellscape/stats/power.hpp"
#include "cellscape/stats/statistics.hpp"
#include "cellscape/study/study_tables.hpp"

namespace cellscape::study_detail {

// The rows of one epoch grouped by cell, in the order cells first appear
// (a failed replicate's one row, epoch 0, belongs to every epoch).
std::vector<std::vector<const StudyRow*>> rows_by_cell(const std::vector<StudyRow>& rows, int64_t epoch);
// The analysis epochs the rows hold, in order (failed rows carry none).
std::vector<int64_t> epochs_of(const std::vector<StudyRow>& rows);
// The cell groups of one population, in the order they appear.
std::vector<std::vector<const StudyRow*>> population_groups(const std::vector<std::vector<const StudyRow*>>& groups,
                                                            const std::string& population);
// The populations of the groups, in the order they first appear.
std::vector<std::string> populations_of(const std::vector<std::vector<const StudyRow*>>& groups);
// Whether any value differs from the first.
bool varies(const std::vector<double>& values);
AssociationOptions association_options(const StudyStatistics& statistics);
PowerOptions power_options(const StudyStatistics& statistics, double alpha);
// The permutations a family of m tests needs: enough that the smallest p
// a sampled test can give, 1 / (permutations + 1), times m stays 20 times
// below alpha (so Holm can decide every row), and never fewer than asked.
int64_t family_permutations(const StudyStatistics& statistics, int64_t family_size);
// The index of the metric called `name` in study_metrics() (its size when none).
std::size_t metric_index(const std::string& name);
// Holm's adjustment within each family: p_values[i] belongs to families[i].
std::vector<double> holm_within_families(const std::vector<double>& p_values, const std::vector<std::string>& families);

// The number of rows of each family with a p-value to come (finite rho,
// not a duplicate).
template <typename Row>
std::map<std::string, int64_t> family_sizes(const std::vector<Row>& rows) {
    std::map<std::string, int64_t> sizes;
    for (const Row& row : rows) {
        const bool counted = std::isfinite(row.association.rho);
        if constexpr (std::is_same_v<Row, StudyAssociationRow>) {
            if (counted && row.duplicate_of.empty()) ++sizes[row.family];
        } else {
            if (counted) ++sizes[row.family];
        }
    }
    return sizes;
}

}  // namespace cellscape::study_detail
