#include "objective_options.hpp"

#include <fmt/format.h>

#include "cellscape/train/checkpoint.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "seed_option.hpp"

namespace cellscape::tools {

void add_objective_options(CLI::App& command, ObjectiveFlags& flags) {
    ObjectiveSource& source = flags.source;
    EvaluationSamples& samples = flags.samples;
    ObjectiveOptions& options = flags.options;
    command.add_option("--checkpoint", source.checkpoint, "A cellscape checkpoint (its dataset and normalization)");
    command.add_option("--torchscript", source.torchscript, "A TorchScript model file (with --data or --dataset)");
    command.add_option("--data", source.data, "HDF5 file with x and y (used as stored) for --torchscript");
    command.add_flag("--torchscript-as-saved", source.torchscript_as_saved,
                     "Run the --torchscript module's own (LibTorch) operators, not cellscape's faster ones in their "
                     "place (the same function)");
    command.add_option("--dataset", source.dataset, "Dataset spec (fashion-mnist, cifar10:DIR, h5:FILE, ...)");
    command.add_option("--samples", samples.samples, "Evaluation samples (0: the whole split)")->capture_default_str();
    command.add_option("--batch-size", options.batch_size, "Evaluation batch size")->capture_default_str();
    command.add_option("--sampling", flags.sampling, "random (by --seed) or sequential (the first N)")
        ->check(one_of<Sampling>())
        ->capture_default_str();
    command.add_option("--split", flags.split, "train or test")->check(one_of<Split>())->capture_default_str();
    command.add_option("--seed", samples.seed, "Seed for the samples and random probes")
        ->check(seed_rule_check())
        ->capture_default_str();
    command.add_option("--bn", flags.bn, "BatchNorm: eval (running statistics) or train (batch statistics)")
        ->check(one_of<BatchNormMode>())
        ->capture_default_str();
    command.add_option("--dtype", flags.dtype, "float32 or float64")->check(one_of<Precision>())->capture_default_str();
    command.add_option("--device", flags.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
    command.add_option("--threads", flags.threads, "CPU threads (0: all cores; default: the checkpoint's, or all)");
    add_cuda_float32_option(command, flags.cuda_float32);
    command.add_option("--hvp-memory", flags.hvp_memory_mib,
                       "MiB for gradient graphs kept between Hessian-vector products (default: half the free memory; "
                       "0: keep none)");
    command.add_option("--params", options.params_regex, "Only parameters whose name matches this regex");
    command.add_option("--group", options.groups, "Only these parameter groups: stem, cells, normal, reduce, classifier");
}

ObjectiveOptions ObjectiveFlags::resolve() const {
    if (source.checkpoint.empty() == source.torchscript.empty())
        throw Error("give either --checkpoint FILE.h5 or --torchscript MODEL.pt (with --data FILE.h5 or --dataset SPEC)");
    if (source.torchscript_as_saved && source.torchscript.empty())
        throw Error("--torchscript-as-saved applies to a --torchscript model; a --checkpoint always runs cellscape's "
                    "DARTS network: drop the flag");
    if (!source.checkpoint.empty() && !source.data.empty())
        throw Error(fmt::format("--data {} applies to a --torchscript model; a --checkpoint is evaluated on its run's "
                                "data, or on --dataset h5:{} to use that file instead",
                                source.data, source.data));
    if (!source.torchscript.empty() && source.data.empty() == source.dataset.empty())
        throw Error("with --torchscript, give the data as --data FILE.h5 (x, y used as stored) or --dataset SPEC");
    ObjectiveOptions resolved = options;
    resolved.bn_mode = parse_name<BatchNormMode>(bn, "bn_mode");
    resolved.dtype = parse_name<Precision>(dtype, "dtype");
    resolved.device = parse_device(device);
    if (hvp_memory_mib) {
        if (*hvp_memory_mib < 0)
            throw SettingError("hvp_memory_bytes",
                               fmt::format("must not be negative (got {}); 0 keeps no graph", *hvp_memory_mib));
        resolved.hvp_memory_bytes = *hvp_memory_mib * (int64_t{1} << 20);
    }
    resolved.validate();
    return resolved;
}

EvaluationSamples ObjectiveFlags::resolve_samples() const {
    EvaluationSamples resolved = samples;
    resolved.sampling = parse_name<Sampling>(sampling, "sampling");
    resolved.split = parse_name<Split>(split, "split");
    resolved.validate();
    return resolved;
}

void apply_threads(const std::optional<int>& threads, const std::string& checkpoint) {
    if (threads) {
        set_threads(*threads);
    } else if (!checkpoint.empty()) {
        set_threads(read_checkpoint(checkpoint).threads);
    } else {
        set_threads(0);
    }
}

CLI::Option* add_cuda_float32_option(CLI::App& command, std::string& name) {
    return command
        .add_option("--cuda-float32", name,
                    "float32 convolutions and matrix products on CUDA: ieee (float32 as on the CPU) or tf32 "
                    "(TensorFloat-32: faster on recent GPUs, about 5e-4 relative error per product)")
        ->check(one_of<CudaFloat32>())
        ->capture_default_str();
}

void apply_cuda_float32(const std::string& name) { set_cuda_float32(parse_name<CudaFloat32>(name, "cuda_float32")); }

}  // namespace cellscape::tools
