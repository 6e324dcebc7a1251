#include "cellscape/study/study.hpp"

#include "cellscape/study/detail/replicate_analyses.hpp"
#include "cellscape/study/detail/replicate_files.hpp"
#include "cellscape/study/detail/replicate_rows.hpp"
#include "cellscape/study/detail/replicates.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string_view>
#include <tuple>

#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/analysis/hessian_report.hpp"
#include "cellscape/analysis/proxies.hpp"
#include "cellscape/analysis/basin.hpp"
#include "cellscape/analysis/surface.hpp"
#include "cellscape/cells/cell_spec.hpp"
#include "cellscape/cells/diagram.hpp"
#include "cellscape/cells/metrics.hpp"
#include "cellscape/data/dataset.hpp"
#include "cellscape/io/graphviz.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/io/output_lock.hpp"
#include "cellscape/io/paths.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/progress.hpp"
#include "cellscape/util/settings_difference.hpp"

namespace cellscape {

using study_detail::analyse_checkpoint;
using study_detail::analysis_name;
using study_detail::append_parts;
using study_detail::fill_row;
using study_detail::merge_finished_surface_shards;
using study_detail::missing_outputs;
using study_detail::proxies_path;
using study_detail::refuse_former_default_cells;
using study_detail::replicate_config;
using study_detail::replicate_proxies;
using study_detail::replicate_row;
using study_detail::resolve_analyses;
using study_detail::StudyAnalyses;
using study_detail::seconds_since;
using study_detail::stop_if_interrupted;
using study_detail::surface_name;
using study_detail::train_cell;

std::string describe_failure(const std::exception_ptr& failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const Interrupted&) {
        throw;
    } catch (const Error& error) {
        return error.what();
    } catch (const c10::Error& error) {
        return fmt::format("LibTorch reported: {}", error.what_without_backtrace());
    } catch (const std::bad_alloc&) {
        return "out of memory (use a smaller network, fewer samples or smaller batches)";
    } catch (const std::exception& error) {
        return fmt::format("unexpected error: {}", error.what());
    }
}

namespace {

// The cell's diagram in its directory: cell.dot, the DOT source, and
// cell.png drawn from it by Graphviz. A machine without Graphviz (a cluster
// node, a GPU image) still runs the study: it says for the cell how to draw
// the diagram later, and the plots leave that cell's panel empty.
void draw_cell_diagram(const NamedGenotype& cell, const std::filesystem::path& directory, ProgressSink* progress) {
    const auto source = directory / "cell.dot";
    const auto diagram = directory / "cell.png";
    const std::string dot = genotype_dot(cell);
    const bool new_source = !std::filesystem::exists(source);
    if (new_source) {
        // Replicates of one cell may run side by side, on several nodes: each
        // writes its own partial file, and the last rename leaves the same text.
        const auto partial = private_partial_path(source);
        std::ofstream out(partial);
        out << dot;
        out.close();
        if (!out)
            throw Error(fmt::format("cannot write {}: is the disk full or the directory read-only?", partial.string()));
        std::filesystem::rename(partial, source);
    }
    if (std::filesystem::exists(diagram)) return;
    try {
        render_dot(dot, diagram);
    } catch (const GraphvizMissing& missing) {
        if (new_source && progress)
            progress->note(fmt::format("{}: {}; its diagram is left as DOT source: dot -Tpng {} -o {}", cell.name,
                                       missing.what(), source.string(), diagram.string()));
    }
}

// One replicate: train, analyse, and its rows from the files.
void run_replicate(const StudyConfig& study_config, const StudyAnalyses& analyses, const StudyReplicate& replicate,
                   const std::filesystem::path& out_dir, const std::string& command, const StudyPart& part,
                   ProgressSink* progress, StudyResult& result) {
    const StudyConfig config = replicate_config(study_config, replicate.seed);
    const NamedGenotype& cell = replicate.cell;
    const auto cell_dir = out_dir / replicate.directory;
    std::filesystem::create_directories(cell_dir);
    draw_cell_diagram(cell, out_dir / cell_directory_name(cell.name), progress);
    const std::string name = fmt::format("{} (seed {})", cell.name, replicate.seed);
    stop_if_interrupted("training " + name);
    if (!part.collect_only && !part.surface_shard) {
        train_cell(config, analyses, cell, cell_dir, command, progress);
        stop_if_interrupted("the proxies of " + name);
        replicate_proxies(config, analyses, cell_dir, command, progress);
    }
    for (int64_t epoch : config.analysis_epochs) {
        stop_if_interrupted(fmt::format("analysing {} at epoch {}", name, epoch));
        if (!part.collect_only) analyse_checkpoint(config, analyses, cell_dir, epoch, command, part, progress);
        StudyRow row = replicate_row(replicate);
        fill_row(row, config, cell_dir, epoch);
        append_parts(result.parts, config, row, cell_dir, epoch);
        result.rows.push_back(row);
    }
}

}  // namespace

namespace {

// Every analysis's samples, defaults included, against the splits the
// replicates train and are evaluated on ([data] train_size and test_size
// of the dataset), so that a study does not train each replicate to fail
// its analyses. Fashion-MNIST's and CIFAR's sizes are known without their
// files (a study submitted from a login node that lacks them is checked
// too); an h5: file is read.
void check_analyses_fit_data(const StudyConfig& config) {
    const TrainingConfig& data = config.training;
    const auto [whole_train, whole_test] = split_sizes(data.dataset);
    for (const auto& [key, asked, whole] : {std::tuple{"train_size", data.train_size, whole_train},
                                            std::tuple{"test_size", data.test_size, whole_test}})
        if (asked > whole)
            throw study_config_error(config.source, "data", key,
                                     fmt::format("is {} but {} has only {} samples in that split", asked,
                                                 data.dataset, whole));
    const int64_t train = data.train_size > 0 ? data.train_size : whole_train;
    const int64_t test = data.test_size > 0 ? data.test_size : whole_test;
    auto split_size = [&](Split split) { return split == Split::train ? train : test; };
    auto split_key = [](Split split) { return split == Split::train ? "train_size" : "test_size"; };
    // `count` images (0: the whole split) of `split`, as `what` = `count` in `section`.
    auto fits = [&](const char* section, const std::string& what, double count, Split split, const char* lower) {
        if (split_size(split) == 0)
            throw study_config_error(config.source, section, what,
                                     fmt::format("{} has no {} split: evaluate another split", data.dataset,
                                                 name_of(split)));
        if (count <= static_cast<double>(split_size(split))) return;
        throw study_config_error(
            config.source, section, what,
            fmt::format("{:.0f} images > [data] {} {}: the {} split the replicates use has only {}; lower {} or "
                        "raise [data] {}",
                        count, split_key(split), split_size(split), name_of(split), split_size(split), lower,
                        split_key(split)));
    };
    if (config.hessian.enabled)
        fits("analysis.hessian", fmt::format("samples = {}", config.hessian.samples),
             static_cast<double>(config.hessian.samples),
             Split::train, "samples");
    const auto& gv = config.gradient_variance;
    if (gv.enabled)
        fits("analysis.gradient_variance", fmt::format("batches x batch_size = {} x {}", gv.batches, gv.batch_size),
             static_cast<double>(gv.batches) * static_cast<double>(gv.batch_size), Split::train,
             "batches or batch_size");
    const auto& surface = config.surface;
    if (surface.enabled) {
        for (const Split split : surface.evaluations)
            fits("analysis.surface", fmt::format("samples = {} (eval = \"{}\")", surface.samples, name_of(split)),
                 static_cast<double>(surface.samples), split, "samples");
        if (surface.gradient_variance)
            fits("analysis.surface",
                 fmt::format("gv_batches x gv_batch_size = {} x {}", surface.gv_batches, surface.gv_batch_size),
                 static_cast<double>(surface.gv_batches) * static_cast<double>(surface.gv_batch_size), surface.gv_split,
                 "gv_batches or gv_batch_size");
    }
    if (config.proxies.enabled)
        fits("analysis.proxies", fmt::format("samples = {}", config.proxies.samples),
             static_cast<double>(config.proxies.samples),
             Split::train, "samples");
}

}  // namespace

namespace {

// validate_study's checks; the analyses as they run when all pass.
StudyAnalyses validated_analyses(const StudyConfig& config) {
    const double threshold = config.loss_threshold;
    if (!(threshold > 0) || !std::isfinite(threshold))
        throw study_config_error(config.source, "training", "loss_threshold",
                                 fmt::format("must be a positive number (got {})", threshold));
    StudyAnalyses analyses = resolve_analyses(config);
    (void)study_cells(config);
    check_analyses_fit_data(config);
    return analyses;
}

}  // namespace

void validate_study(const StudyConfig& config) { (void)validated_analyses(config); }

namespace {

// A part of a study (one replicate, one pack, one surface shard) must name one that exists.
void check_study_part(const StudyConfig& config, const StudyPart& part, std::size_t replicates, std::size_t packs) {
    if (part.only_pack && part.only_replicate)
        throw Error("a part of a study is one replicate or one pack: give the replicate index or the pack index");
    if (part.only_pack && *part.only_pack >= packs)
        throw Error(fmt::format("pack index {} is out of range: the study has {} packs (0 to {}) of at most {} seeds",
                                *part.only_pack, packs, packs - 1, config.pack));
    if (part.surface_shard && (!part.only_replicate || *part.surface_shard < 0 ||
                               *part.surface_shard >= config.slurm_surface_shards))
        throw Error(fmt::format("a surface shard belongs to one replicate and is between 0 and {} "
                                "(slurm.surface_shards - 1)",
                                config.slurm_surface_shards - 1));
    if (part.only_replicate && *part.only_replicate >= replicates)
        throw Error(fmt::format("replicate index {} is out of range: the study has {} (cell, seed) pairs (0 to {})",
                                *part.only_replicate, replicates, replicates - 1));
}

// One replicate's rows in `result`: its work (or, collecting, its files)
// and, when it fails, one row saying why while the study goes on. False
// when collecting found it unfinished (its row says what is missing).
bool study_replicate(const StudyConfig& config, const StudyAnalyses& analyses, const StudyReplicate& replicate,
                     const std::filesystem::path& out_dir, const std::string& command, const StudyPart& part,
                     ProgressSink* progress, const ProgressTask& task, const std::string& note, StudyResult& result) {
    const auto cell_dir = out_dir / replicate.directory;
    if (part.collect_only) {
        for (int64_t epoch : config.analysis_epochs) merge_finished_surface_shards(config, cell_dir, epoch, command);
        const auto missing = missing_outputs(config, cell_dir);
        if (!missing.empty()) {
            StudyRow row = replicate_row(replicate);
            row.status = fmt::format("not finished: {} is missing", missing.string());
            result.rows.push_back(row);
            ++result.failed_replicates;
            return false;
        }
    }
    task.note(note);
    const std::size_t rows_before = result.rows.size(), parts_before = result.parts.size();
    try {
        run_replicate(config, analyses, replicate, out_dir, command, part, progress, result);
    } catch (...) {
        // Interrupted goes on up (describe_failure rethrows it): the
        // summary is written only by a study that went through all its replicates.
        const std::string failure = describe_failure(std::current_exception());
        result.rows.resize(rows_before);
        result.parts.resize(parts_before);
        StudyRow row = replicate_row(replicate);
        row.status = fmt::format("failed: {}", failure);
        task.note(fmt::format("{} seed {} failed: {}; going on with the others", replicate.cell.name, replicate.seed,
                              failure));
        result.rows.push_back(row);
        ++result.failed_replicates;
    }
    return true;
}

// A pack's unfinished members trained as one network before each runs its
// analyses (study_replicate then finds its training done). When the pack
// fails, each member trains alone, and fails alone in its own row.
void train_together(const StudyConfig& config, const StudyAnalyses& analyses,
                    const std::vector<StudyReplicate>& replicates, const std::vector<std::size_t>& pack,
                    const std::filesystem::path& out_dir, const std::string& command, const StudyPart& part,
                    ProgressSink* progress, const ProgressTask& task) {
    if (pack.size() < 2 || part.only_replicate || part.collect_only || part.surface_shard) return;
    std::vector<const StudyReplicate*> members;
    for (std::size_t i : pack) members.push_back(&replicates[i]);
    const StudyReplicate& first = *members.front();
    stop_if_interrupted(fmt::format("training the pack of {} ({} seeds)", first.cell.name, pack.size()));
    try {
        train_pack(config, analyses, members, out_dir, command, progress);
    } catch (...) {
        const std::string failure = describe_failure(std::current_exception());  // Interrupted goes on up
        task.note(fmt::format("the pack of {} failed: {}; its seeds train alone", first.cell.name, failure));
    }
}

}  // namespace

StudyResult run_study(const StudyConfig& config, const std::filesystem::path& out_dir, const std::string& command,
                      const StudyPart& part, ProgressSink* progress) {
    const StudyAnalyses analyses = validated_analyses(config);
    const std::vector<StudyReplicate> replicates = study_replicates(config);
    const std::vector<std::vector<std::size_t>> packs = study_packs(config, replicates);
    check_study_part(config, part, replicates.size(), packs.size());
    refuse_former_default_cells(config, out_dir);
    prepare_output_directory(out_dir, "out_dir");
    StudyResult result;
    const ProgressTask task(progress, "study " + config.name, static_cast<int64_t>(replicates.size()), "replicates");
    task.update(0);  // the study's clock starts here, not at its first finished replicate
    for (std::size_t p = 0; p < packs.size(); ++p) {
        if (part.only_pack && *part.only_pack != p) continue;
        train_together(config, analyses, replicates, packs[p], out_dir, command, part, progress, task);
        for (std::size_t i : packs[p]) {
            if (part.only_replicate && *part.only_replicate != i) continue;
            const StudyReplicate& replicate = replicates[i];
            const std::string note = fmt::format("replicate {}/{}: {} seed {}", i + 1, replicates.size(),
                                                 replicate.cell.name, replicate.seed);
            if (study_replicate(config, analyses, replicate, out_dir, command, part, progress, task, note, result))
                task.update(static_cast<int64_t>(i + 1));
        }
    }
    if (!part.only_replicate && !part.only_pack) {
        StudyStatistics statistics = config.statistics;
        statistics.seed = config.analysis_seed;
        summarize_study(result, statistics);
        result.summary = out_dir / "summary.h5";
        write_study_summary(result.summary, config, result, command);
    }
    return result;
}

void summarize_study(StudyResult& result, const StudyStatistics& statistics) {
    result.cells = summarize_cells(result.rows);
    result.associations = associate_with_predictors(result.rows, statistics);
    result.metric_associations = associate_metric_pairs(result.rows, statistics);
    result.mediation = mediate_convergence(result.rows, statistics);
}

std::string format_study_result(const StudyResult& result, const StudyConfig& config) {
    if (!config.replicated()) return format_replicates_table(result.rows);
    std::string text = format_cells_table(result.cells);
    text += "\nAcross cells, per population: Spearman's rho of the cells' means with the normal cell's width, its 95% "
            "bootstrap interval (cells resampled), permutation p:\n";
    text += format_verdict_table(result.associations, config.statistics);
    if (const std::string convergence = format_convergence_associations(result.metric_associations);
        !convergence.empty())
        text += "\nEach metric against convergence speed (epochs_to_threshold), across cells:\n" + convergence;
    if (const std::string mediation = format_mediation_table(result.mediation); !mediation.empty())
        text += "\nWidth -> convergence through each metric (ranks; a: width->metric, b: metric->convergence with "
                "width fixed, proportion = a*b / total):\n" +
                mediation;
    return text;
}

}  // namespace cellscape
