#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "cellscape/analysis/surface.hpp"
#include "commands.hpp"
#include "objective_options.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"

namespace cellscape::tools {

namespace {

struct SurfaceOptions {
    ObjectiveFlags objective;
    std::string x, y, shard, norm, ignore, directions = "random", directions_from, from, to;
    std::vector<std::string> evaluations{"train"};
    bool gradient_variance = false;
    int64_t gv_batches = 10, gv_batch_size = 128;
    std::string gv_split = "train", gv_bn = "eval";
    double basin_level = default_basin_level;
    OutputFile out{"surface.h5"};
    bool json = false;

    SurfaceRequest request() const {
        SurfaceRequest request;
        request.x = GridAxis::parse(x, "x");
        if (!y.empty()) request.y = GridAxis::parse(y, "y");
        // Inside a Slurm array job, the task's share of the grid unless --shard says otherwise.
        request.shard = shard.empty() ? Shard::from_slurm_array(std::getenv("SLURM_ARRAY_TASK_ID"),
                                                                std::getenv("SLURM_ARRAY_TASK_COUNT"),
                                                                std::getenv("SLURM_ARRAY_TASK_MIN"))
                                      : Shard::parse(shard);
        request.overwrite = out.force;
        request.basin_level = basin_level;
        request.validate();
        return request;
    }

    SurfaceEvaluations evaluations_() const {
        SurfaceEvaluations result;
        result.splits.clear();
        for (const auto& name : evaluations) result.splits.push_back(parse_name<Split>(name, "evaluations"));
        result.gradient_variance_batches = gradient_variance ? gv_batches : 0;
        result.gradient_variance_batch_size = gv_batch_size;
        result.gradient_variance_split = parse_name<Split>(gv_split, "gv_split");
        result.gradient_variance_bn_mode = parse_name<BatchNormMode>(gv_bn, "gv_bn");
        result.validate();
        return result;
    }

    // --directions, --directions-from, --from/--to, --norm and --ignore as one request.
    DirectionRequest directions_(ObjectiveSource& source) const {
        DirectionRequest request;
        request.seed = objective.samples.seed;
        if (directions == "random") {
            request.source = DirectionSource::random;
        } else if (directions.rfind("hessian:", 0) == 0) {
            request.source = DirectionSource::hessian;
            request.file = directions.substr(8);
        } else {
            throw SettingError("directions", fmt::format("'{}' is not known: use random or hessian:FILE (or "
                                                         "--directions-from SURFACE.h5, or --from/--to)",
                                                         directions));
        }
        if (!directions_from.empty()) {
            request.source = DirectionSource::surface;
            request.file = directions_from;
        }
        if (from.empty() != to.empty()) throw Error("give --from and --to together");
        if (!from.empty()) {
            if (!source.checkpoint.empty() || !source.torchscript.empty())
                throw Error("--from replaces --checkpoint/--torchscript: give the start checkpoint once");
            source.checkpoint = from;
            request.source = DirectionSource::interpolate;
            request.file = to;
        }
        if (!norm.empty()) request.norm = parse_name<DirectionNorm>(norm, "norm");
        request.ignore_bias_and_bn = ignore.empty() ? request.source == DirectionSource::random : ignore == "biasbn";
        return request;
    }
};

}  // namespace

void add_surface_command(CLI::App& app) {
    auto options = std::make_shared<SurfaceOptions>();
    options->objective.options.batch_size = 64;  // oneDNN's CPU kernels run fastest on feature maps that stay in cache
    auto* command = app.add_subcommand("surface", "Loss (and gradient-variance) surface over a 1D or 2D weight slice");
    add_objective_options(*command, options->objective);
    command->remove_option(command->get_option("--split"));
    command->add_option("--x", options->x, "x grid MIN:MAX:NUM, e.g. -1:1:51")->required();
    command->add_option("--y", options->y, "y grid MIN:MAX:NUM (2D surface); any size, need not be square");
    command->add_option("--eval", options->evaluations, "Evaluate loss and accuracy on: train, test or train,test")
        ->delimiter(',')
        ->check(one_of<Split>())
        ->capture_default_str();
    command->add_option("--directions", options->directions, "random, or hessian:FILE (top two eigenvectors)")
        ->capture_default_str();
    command->add_option("--directions-from", options->directions_from,
                        "Reuse the directions of an earlier surface file (compare models on one slice)");
    command->add_option("--norm", options->norm, "filter, layer or none (default: filter for random directions)")
        ->check(one_of<DirectionNorm>());
    command->add_option("--ignore", options->ignore, "biasbn: zero direction on biases and BatchNorm; none")
        ->check(CLI::IsMember({"biasbn", "none"}));
    command->add_option("--from", options->from, "Interpolate from this checkpoint ...");
    command->add_option("--to", options->to, "... to this one (1D; x=0 is --from, x=1 is --to)");
    command->add_flag("--gradient-variance", options->gradient_variance,
                      "Also the mini-batch gradient variance at every point");
    command->add_option("--gv-batches", options->gv_batches, "Gradient variance: K batches")->capture_default_str();
    command->add_option("--gv-batch-size", options->gv_batch_size, "Gradient variance: batch size B")
        ->capture_default_str();
    command->add_option("--gv-split", options->gv_split, "Gradient variance: the samples' split (train or test)")
        ->check(one_of<Split>())
        ->capture_default_str();
    command->add_option("--gv-bn", options->gv_bn,
                        "Gradient variance: BatchNorm mode (train: the noise SGD sees; eval: running statistics)")
        ->check(one_of<BatchNormMode>())
        ->capture_default_str();
    command->add_option("--basin-level", options->basin_level,
                        "Basin metrics: the fraction of points, and the radius along rays, with loss <= this times "
                        "the origin's")
        ->capture_default_str();
    command->add_option("--shard", options->shard,
                        "Compute share I/N of the points (default: SLURM_ARRAY_TASK_ID/COUNT when set)");
    options->out.add_to(*command, "Surface file (unfinished work is kept in OUT.partial)");
    command->add_flag("--json", options->json, "Print a JSON summary on stdout");
    command->callback([options] {
        const SurfaceRequest request = options->request();
        const SurfaceEvaluations evaluations = options->evaluations_();
        ObjectiveFlags flags = options->objective;
        const DirectionRequest directions = options->directions_(flags.source);
        // The library locks the surface's files itself (analysis/surface.hpp).
        NamedInputs inputs = inputs_of(flags.source);
        inputs.emplace_back(directions.file, directions.source == DirectionSource::interpolate ? "to" : "directions");
        options->out.check(inputs, true);
        const EvaluationSamples samples = flags.resolve_samples();
        const ObjectiveOptions objective_options = flags.resolve();
        apply_threads(flags.threads, flags.source.checkpoint);
        apply_cuda_float32(flags.cuda_float32);
        const LoadedSurfaceObjectives loaded = load_surface_objectives(flags.source, samples, objective_options, evaluations);
        const SurfaceObjectives& objectives = loaded.objectives;
        const SurfaceSlice slice = make_surface_slice(*objectives.evaluations.front().second, directions,
                                                      request.y.has_value());
        InterruptGuard interrupts;  // Ctrl-C: finished points are kept, then a sentence
        const SurfaceRun run =
            compute_surface(objectives, slice, request, options->out.path,
                            analysis_record(samples.seed, surface_settings_json({samples, objective_options, evaluations,
                                                                                 request, options->x, options->y})),
                            progress_sink());
        const nlohmann::ordered_json summary{{"out", run.file.string()},
                                             {"shape", request.y ? std::vector<int64_t>{request.y->count, request.x.count}
                                                                 : std::vector<int64_t>{request.x.count}},
                                             {"points", run.grid_points},
                                             {"shard", request.shard.spec()},
                                             {"shard_points", run.shard_points},
                                             {"computed", run.computed},
                                             {"resumed", run.resumed},
                                             {"non_finite", run.non_finite},
                                             {"directions", slice.source},
                                             {"norm", slice.norm},
                                             {"seconds", run.seconds},
                                             {"seconds_per_point", run.seconds_per_point}};
        std::cout << summary.dump(options->json ? 2 : -1) << "\n";
    });
}

void add_merge_command(CLI::App& app) {
    auto out = std::make_shared<std::string>();
    auto shards = std::make_shared<std::vector<std::string>>();
    auto* command = app.add_subcommand("merge", "Join surface shards (--shard I/N) into the file one run writes");
    command->add_option("out", *out, "The merged surface file")->required();
    command->add_option("shards", *shards, "The shard files, all N of them")->required();
    command->callback([out, shards] {
        NamedInputs inputs;
        for (const std::string& shard : *shards) inputs.emplace_back(shard, "shards");
        const auto lock = OutputFile{*out}.claim(inputs);
        merge_surface_shards(*out, std::vector<std::filesystem::path>(shards->begin(), shards->end()), command_line());
        std::cout << nlohmann::json{{"out", *out}, {"shards", shards->size()}}.dump() << "\n";
    });
}

}  // namespace cellscape::tools
