#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "cellscape/cells/cell_spec.hpp"
#include "commands.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/packed_trainer.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "objective_options.hpp"
#include "seed_option.hpp"

namespace cellscape::tools {

namespace {

struct TrainOptions {
    std::string cell;
    TrainingRequest request;
    std::string checkpoint_epochs;
    std::string resume;
    std::string seeds;
    std::string device = "cpu";
    std::string cuda_float32 = "ieee";
    std::optional<int> threads;
    bool json = false;
};

nlohmann::ordered_json summary_json(const TrainingSummary& summary) {
    nlohmann::ordered_json out = {{"cell", summary.cell_name},
                                  {"out_dir", summary.out_dir.string()},
                                  {"final_checkpoint", summary.final_checkpoint.string()},
                                  {"epochs", summary.epochs},
                                  {"parameters", summary.parameters},
                                  {"final_train_loss", summary.final_train_loss},
                                  {"final_train_accuracy", summary.final_train_accuracy},
                                  {"final_test_loss", summary.final_test_loss},
                                  {"final_test_accuracy", summary.final_test_accuracy},
                                  {"seconds", summary.seconds}};
    nlohmann::json paths = nlohmann::json::array();
    for (const auto& path : summary.checkpoints) paths.push_back(path.string());
    out["checkpoints"] = paths;
    return out;
}

std::string summary_line(const TrainingSummary& summary) {
    return fmt::format("trained {} for {} epoch{} ({} parameters) in {:.1f} s; final test loss {:.4f}, accuracy "
                       "{:.4f}; checkpoints in {}",
                       summary.cell_name, summary.epochs, summary.epochs == 1 ? "" : "s", summary.parameters,
                       summary.seconds, summary.final_test_loss, summary.final_test_accuracy,
                       summary.out_dir.string());
}

void print_summary(const TrainingSummary& summary, bool json) {
    std::cout << (json ? summary_json(summary).dump(2) : summary_line(summary)) << "\n";
}

// --seeds: one packed run of every seed, each into --out/seed-N.
void train_pack(const TrainOptions& options, const TrainingRequest& request, const CLI::Option& seed_option) {
    if (seed_option.count() > 0)
        throw Error("--seed and --seeds cannot be combined: give every seed in --seeds (e.g. --seeds 1,2,3,4)");
    PackedTrainingRequest pack;
    pack.cell = request.cell;
    pack.network = request.network;
    pack.training = request.training;
    pack.seeds = parse_seed_list(options.seeds, "seeds");
    for (uint64_t seed : pack.seeds) pack.out_dirs.push_back(request.out_dir / fmt::format("seed-{}", seed));
    pack.device = request.device;
    pack.command = request.command;
    pack.progress = request.progress;
    const std::vector<TrainingSummary> summaries = train_packed(pack);
    if (options.json) {
        nlohmann::ordered_json all = nlohmann::ordered_json::array();
        for (std::size_t k = 0; k < summaries.size(); ++k) {
            nlohmann::ordered_json one = {{"seed", pack.seeds[k]}};
            one.update(summary_json(summaries[k]));
            all.push_back(one);
        }
        std::cout << all.dump(2) << "\n";
        return;
    }
    for (std::size_t k = 0; k < summaries.size(); ++k)
        std::cout << fmt::format("seed {}: {}\n", pack.seeds[k], summary_line(summaries[k]));
}

}  // namespace

void add_train_command(CLI::App& app) {
    auto options = std::make_shared<TrainOptions>();
    auto& training = options->request.training;
    auto& network = options->request.network;
    auto* command = app.add_subcommand("train", "Train the DARTS network of a cell, with checkpoints and resume");
    command->footer("With --resume, the settings come from the checkpoint; only --out, --device, --cuda-float32 "
                    "(default: the checkpoint's), --threads and --json may be given.\nSee docs/training.md.");
    CLI::Option* seed_option = command->add_option("--seed", training.seed, "Seed: weights, subsets, order, augmentation")
                                   ->check(seed_rule_check())
                                   ->capture_default_str();
    std::vector<CLI::Option*> settings = {
        command->add_option("--cell", options->cell, "The cell (anything `cellscape cell` accepts)"),
        command->add_option("--dataset", training.dataset, "fashion-mnist[:DIR], cifar10:DIR, cifar100:DIR or h5:FILE")
            ->capture_default_str(),
        command->add_option("--train-size", training.train_size, "Seeded training subset size (0: all)")
            ->capture_default_str(),
        command->add_option("--test-size", training.test_size, "Seeded test subset size (0: all)")->capture_default_str(),
        command->add_option("--epochs", training.epochs, "Epochs")->capture_default_str(),
        command->add_option("--batch-size", training.batch_size, "Mini-batch size")->capture_default_str(),
        command->add_option("--eval-batch-size", training.eval_batch_size, "Batch size for test evaluation")
            ->capture_default_str(),
        command->add_option("--init-channels", network.init_channels, "Initial channels C")->capture_default_str(),
        command->add_option("--layers", network.layers, "Number of cells")->capture_default_str(),
        command->add_flag("--auxiliary", network.auxiliary, "Train with the auxiliary head"),
        command->add_option("--auxiliary-weight", training.auxiliary_weight, "Weight of the auxiliary loss")
            ->capture_default_str(),
        command->add_option("--lr", training.learning_rate, "Initial learning rate")->capture_default_str(),
        command->add_option("--lr-min", training.min_learning_rate, "Final learning rate of the cosine schedule")
            ->capture_default_str(),
        command->add_option("--momentum", training.momentum, "SGD momentum")->capture_default_str(),
        command->add_option("--weight-decay", training.weight_decay, "Weight decay")->capture_default_str(),
        command->add_option("--grad-clip", training.gradient_clip, "Max gradient norm (0: off)")->capture_default_str(),
        command->add_option("--drop-path", training.drop_path, "Final drop-path probability (ramped from 0)")
            ->capture_default_str(),
        command->add_option("--crop-padding", training.augmentation.crop_padding,
                            "Random crop after zero padding by this many pixels (0: off)")
            ->capture_default_str(),
        command->add_flag("--flip", training.augmentation.horizontal_flip, "Random horizontal flips"),
        command->add_option("--cutout", training.augmentation.cutout, "Cutout square side (0: off)")
            ->capture_default_str(),
        seed_option,
        command->add_option("--seeds", options->seeds,
                            "Several seeds, e.g. 1,2,3,4, trained as one packed network into --out/seed-N "
                            "(docs/training.md)"),
        command->add_option("--checkpoint-epochs", options->checkpoint_epochs,
                            "Epochs after which to write a checkpoint, e.g. 1,5,10 (the last is always written)"),
    };
    command->add_option("--out", options->request.out_dir, "Output directory (default with --resume: the checkpoint's)");
    command->add_option("--resume", options->resume, "Continue the run of this checkpoint");
    command->add_option("--device", options->device, "cpu, cuda, cuda:N or auto")->capture_default_str();
    command->add_option("--threads", options->threads,
                        "CPU threads (0: all cores; default 0, or on --resume the checkpoint's)");
    const CLI::Option* cuda_float32 = add_cuda_float32_option(*command, options->cuda_float32);
    command->add_flag("--json", options->json, "Print a JSON summary on stdout");

    command->callback([options, settings, cuda_float32, seed_option] {
        TrainingRequest& request = options->request;
        request.command = command_line();
        request.device = parse_device(options->device);
        request.progress = progress_sink();
        if (!options->resume.empty()) {
            for (const CLI::Option* setting : settings)
                if (setting->count() > 0)
                    throw Error(fmt::format("{} cannot be combined with --resume: a resumed run keeps the settings "
                                            "stored in its checkpoint",
                                            setting->get_name()));
            request.resume = options->resume;
            if (request.out_dir.empty()) request.out_dir = request.resume->parent_path();
            if (request.out_dir.empty()) request.out_dir = ".";
            // A resumed run keeps the threads and the float32 policy it ran
            // with unless told otherwise (one read of the checkpoint for both).
            const TrainingState stored = read_checkpoint(options->resume);
            apply_threads(options->threads ? options->threads : std::optional<int>(stored.threads));
            if (cuda_float32->count() == 0 && is_cuda_float32_policy(stored.cuda_float32))
                options->cuda_float32 = stored.cuda_float32;
        } else {
            if (options->cell.empty()) throw Error("--cell is required (or --resume FILE to continue a run)");
            if (request.out_dir.empty()) throw Error("--out DIR is required: where checkpoints go");
            request.cell = resolve_cell(options->cell);
            if (!options->checkpoint_epochs.empty())
                request.training.checkpoint_epochs = parse_epoch_list(options->checkpoint_epochs);
            apply_threads(options->threads);
        }
        apply_cuda_float32(options->cuda_float32);
        InterruptGuard interrupts;  // Ctrl-C: the last finished step is saved, then a sentence
        if (!options->seeds.empty()) return train_pack(*options, request, *seed_option);
        print_summary(train_network(request), options->json);
    });
}

}  // namespace cellscape::tools

