#pragma once
// The cluster bootstrap every interval of the study and the rank command
// is drawn from: cells resampled with replacement, each carrying its own
// mean over its seeds. A cell's mean already carries its seeds' noise;
// resampling the seeds again (a two-stage bootstrap) would add that noise
// twice and pull a resampled correlation toward 0, so far that an interval
// could miss the estimate itself (Davison and Hinkley 1997, section 3.8).
// Torch-free; the draws come from a SeededRandom (util/random.hpp), in one
// order: per resample, n indices.
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "cellscape/util/random.hpp"

namespace cellscape {

// The q-quantile (0 <= q <= 1) of ascending, non-empty `sorted` by linear
// interpolation between order statistics (numpy's default).
double sorted_percentile(const std::vector<double>& sorted, double q);

// `resamples` resamples of n units: for each, `sample` holds n indices drawn
// uniformly from 0..n-1 by `random` (in that order), and `visit(sample)`
// computes what it needs from them.
void cluster_bootstrap(std::size_t n, int64_t resamples, SeededRandom& random,
                       const std::function<void(const std::vector<std::size_t>& sample)>& visit);

// The 95% percentile interval of the defined resampled values (sorted
// here): NaN bounds when fewer than max(20, resamples / 2) of the
// `resamples` drawn gave a value (a statistic undefined that often has no
// interval worth stating). `degenerate`: every value the same (to 1e-12),
// an interval that is a point and says nothing of the uncertainty.
struct PercentileInterval {
    double low = NAN, high = NAN;
    bool degenerate = false;
};
PercentileInterval percentile_interval(std::vector<double> values, int64_t resamples);

}  // namespace cellscape
