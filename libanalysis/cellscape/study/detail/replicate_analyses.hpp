#pragma once
// One replicate's work (not installed; study/replicate_analyses.cpp): its
// training and its analyses at each checkpoint, each step skipped when its
// output exists with the config's settings and refused when it exists with
// others. The config's analysis settings are resolved once
// (resolve_analyses) into what every replicate runs.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/analysis/hessian_report.hpp"
#include "cellscape/analysis/objective.hpp"
#include "cellscape/analysis/proxies.hpp"
#include "cellscape/analysis/surface.hpp"
#include "cellscape/study/replicates.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape::study_detail {

double seconds_since(std::chrono::steady_clock::time_point start);
// Between the steps of a study, where nothing is half written: Interrupted
// naming `next` when a signal asked the study to stop.
void stop_if_interrupted(const std::string& next);

StudyConfig replicate_config(const StudyConfig& config, uint64_t seed);

// The study's analyses as they run, resolved once from the config: the
// device parsed, the samples chosen by the analysis seed, each enabled
// analysis's job (a disabled one's is left default).
struct StudyAnalyses {
    AnalysisContext context;
    std::string cuda_float32;  // what the float32 work runs as: "ieee", "tf32", or "unused" on the CPU
    HessianJob hessian;
    GradientVarianceJob gradient_variance;
    SurfaceJob surface;
    ProxyJob proxies;
};
// Error naming the config's file, table and key for a setting no analysis can use.
StudyAnalyses resolve_analyses(const StudyConfig& config);

void train_cell(const StudyConfig& config, const StudyAnalyses& analyses, const NamedGenotype& cell,
                const std::filesystem::path& cell_dir, const std::string& command, ProgressSink* progress);
// The unfinished members of a pack (at least two; `replicates` in
// study_packs' order) trained as one packed network into their train/
// directories; fewer than two left to train_cell. Each member's stored
// training is checked against the config first, as train_cell does.
void train_pack(const StudyConfig& config, const StudyAnalyses& analyses,
                const std::vector<const StudyReplicate*>& replicates, const std::filesystem::path& out_dir,
                const std::string& command, ProgressSink* progress);
void analyse_checkpoint(const StudyConfig& config, const StudyAnalyses& analyses, const std::filesystem::path& cell_dir,
                        int64_t epoch, const std::string& command, const StudyPart& part, ProgressSink* progress);
void merge_finished_surface_shards(const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch,
                                   const std::string& command);
void replicate_proxies(const StudyConfig& config, const StudyAnalyses& analyses, const std::filesystem::path& cell_dir,
                       const std::string& command, ProgressSink* progress);

}  // namespace cellscape::study_detail
