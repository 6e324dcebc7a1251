#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "analysis/surface.hpp"
#include "commands.hpp"
#include "objective_options.hpp"
#include "util/error.hpp"

namespace cellscape::tools {

void add_surface_command(CLI::App& app) {
    struct Options {
        ObjectiveSource source;
        ObjectiveOptions objective;
        std::string x, y, shard, norm, ignore, directions = "random", directions_from, from, to;
        std::vector<std::string> evaluations{"train"};
        bool gradient_variance = false;
        int64_t gv_batches = 10, gv_batch_size = 128;
        std::string out = "surface.h5";
        bool json = false;
    };
    auto options = std::make_shared<Options>();
    options->objective.batch_size = 64;  // oneDNN's CPU kernels run fastest on feature maps that stay in cache
    auto* command = app.add_subcommand("surface", "Loss (and gradient-variance) surface over a 1D or 2D weight slice");
    add_objective_options(*command, options->source, options->objective);
    command->remove_option(command->get_option("--split"));
    command->add_option("--x", options->x, "x grid MIN:MAX:NUM, e.g. -1:1:51")->required();
    command->add_option("--y", options->y, "y grid MIN:MAX:NUM (2D surface); any size, need not be square");
    command->add_option("--eval", options->evaluations, "Evaluate loss and accuracy on: train, test or train,test")
        ->delimiter(',')
        ->check(CLI::IsMember({"train", "test"}))
        ->capture_default_str();
    command->add_option("--directions", options->directions, "random, or hessian:FILE (top two eigenvectors)")
        ->capture_default_str();
    command->add_option("--directions-from", options->directions_from,
                        "Reuse the directions of an earlier surface file (compare models on one slice)");
    command->add_option("--norm", options->norm, "filter, layer or none (default: filter for random directions)")
        ->check(CLI::IsMember({"filter", "layer", "none"}));
    command->add_option("--ignore", options->ignore, "biasbn: zero direction on biases and BatchNorm; none")
        ->check(CLI::IsMember({"biasbn", "none"}));
    command->add_option("--from", options->from, "Interpolate from this checkpoint ...");
    command->add_option("--to", options->to, "... to this one (1D; x=0 is --from, x=1 is --to)");
    command->add_flag("--gradient-variance", options->gradient_variance,
                      "Also the mini-batch gradient variance at every point");
    command->add_option("--gv-batches", options->gv_batches, "Gradient variance: K training batches")
        ->capture_default_str();
    command->add_option("--gv-batch-size", options->gv_batch_size, "Gradient variance: batch size B")
        ->capture_default_str();
    command->add_option("--shard", options->shard,
                        "Compute share I/N of the points (default: SLURM_ARRAY_TASK_ID/COUNT when set)");
    command->add_option("--out", options->out, "Surface file (unfinished work is kept in OUT.partial)")
        ->capture_default_str();
    command->add_flag("--json", options->json, "Print a JSON summary on stdout");
    command->callback([options] {
        SurfaceRequest request;
        request.x = GridAxis::parse(options->x, "--x");
        if (!options->y.empty()) request.y = GridAxis::parse(options->y, "--y");
        request.shard = Shard::parse(options->shard);

        ObjectiveSource source = options->source;
        DirectionRequest directions;
        directions.source = options->directions;
        directions.norm = options->norm;
        directions.seed = options->objective.seed;
        if (!options->directions_from.empty()) directions.source = "surface:" + options->directions_from;
        if (options->from.empty() != options->to.empty()) throw Error("give --from and --to together");
        if (!options->from.empty()) {
            if (!source.checkpoint.empty() || !source.torchscript.empty())
                throw Error("--from replaces --checkpoint/--torchscript: give the start checkpoint once");
            source.checkpoint = options->from;
            directions.source = "interpolate:" + options->to;
        }
        directions.ignore_bias_and_bn =
            options->ignore.empty() ? directions.source == "random" : options->ignore == "biasbn";

        if (options->gradient_variance && options->gv_batches < 2) throw Error("--gv-batches must be at least 2");
        const LoadedSurfaceObjectives loaded =
            load_surface_objectives(source, options->objective, options->evaluations,
                                    options->gradient_variance ? options->gv_batches : 0, options->gv_batch_size);
        const SurfaceObjectives& objectives = loaded.objectives;
        if (objectives.evaluations.empty()) throw Error("--eval needs train, test or both");
        const SurfaceSlice slice = make_surface_slice(*objectives.evaluations.front().second, directions,
                                                      request.y.has_value());
        const SurfaceRun run = compute_surface(objectives, slice, request, options->out, command_line());
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
        merge_surface_shards(*out, std::vector<std::filesystem::path>(shards->begin(), shards->end()), command_line());
        std::cout << nlohmann::json{{"out", *out}, {"shards", shards->size()}}.dump() << "\n";
    });
}

}  // namespace cellscape::tools
