#pragma once
// One replicate's work (not installed; study/replicate_analyses.cpp): its
// training and its analyses at each checkpoint, each step skipped when its
// output exists with the config's settings and refused when it exists with
// others; the config's settings as each analysis's own request.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

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
EvaluationSamples training_samples(const StudyConfig& config, int64_t count);
ObjectiveOptions objective_options(const StudyConfig& config, int64_t batch_size,
                                   BatchNormMode bn = BatchNormMode::eval);
HessianRequest hessian_request(const StudyConfig& config);
SurfaceEvaluations surface_evaluations(const StudyConfig& config);
SurfaceRequest surface_request(const StudyConfig& config);
ProxyOptions proxy_options(const StudyConfig& config);

void train_cell(const StudyConfig& config, const NamedGenotype& cell, const std::filesystem::path& cell_dir,
                const std::string& command, ProgressSink* progress);
void analyse_checkpoint(const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch,
                        const std::string& command, const StudyPart& part, ProgressSink* progress);
void merge_finished_surface_shards(const StudyConfig& config, const std::filesystem::path& cell_dir, int64_t epoch,
                                   const std::string& command);
void replicate_proxies(const StudyConfig& config, const std::filesystem::path& cell_dir, const std::string& command,
                       ProgressSink* progress);

}  // namespace cellscape::study_detail
