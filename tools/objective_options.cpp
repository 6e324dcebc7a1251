#include "objective_options.hpp"

namespace cellscape::tools {

void add_objective_options(CLI::App& command, ObjectiveSource& source, ObjectiveOptions& options) {
    command.add_option("--checkpoint", source.checkpoint, "A cellscape checkpoint (its dataset and normalization)");
    command.add_option("--torchscript", source.torchscript, "A TorchScript model file (with --data or --dataset)");
    command.add_option("--data", source.data, "HDF5 file with x and y (used as stored) for --torchscript");
    command.add_option("--dataset", source.dataset, "Dataset spec (fashion-mnist, cifar10:DIR, h5:FILE, ...)");
    command.add_option("--samples", options.samples, "Evaluation samples (0: the whole split)")->capture_default_str();
    command.add_option("--batch-size", options.batch_size, "Evaluation batch size")->capture_default_str();
    command.add_option("--sampling", options.sampling, "random (by --seed) or sequential (the first N)")
        ->check(CLI::IsMember({"random", "sequential"}))
        ->capture_default_str();
    command.add_option("--split", options.split, "train or test")
        ->check(CLI::IsMember({"train", "test"}))
        ->capture_default_str();
    command.add_option("--seed", options.seed, "Seed for the samples and random probes")->capture_default_str();
    command.add_option("--bn", options.bn_mode, "BatchNorm: eval (running statistics) or train (batch statistics)")
        ->check(CLI::IsMember({"eval", "train"}))
        ->capture_default_str();
    command.add_option("--dtype", options.dtype, "float32 or float64")
        ->check(CLI::IsMember({"float32", "float64"}))
        ->capture_default_str();
    command.add_option("--device", options.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
    command.add_option("--threads", options.threads, "CPU threads (0: all cores; default: the checkpoint's, or all)");
    command.add_option("--params", options.params_regex, "Only parameters whose name matches this regex");
    command.add_option("--group", options.groups, "Only these parameter groups: stem, cells, normal, reduce, classifier");
}

}  // namespace cellscape::tools
