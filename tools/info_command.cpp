#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <iostream>

#include "commands.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/memory.hpp"
#include "cellscape/util/version.hpp"

namespace cellscape::tools {

void add_info_command(CLI::App& app) {
    auto* command = app.add_subcommand(
        "info", "What this build can use (JSON): LibTorch version, CUDA and cuDNN compiled in, GPUs visible, threads, "
                "malloc");
    command->callback([] {
        const TorchBuild build = describe_torch_build();
        std::cout << nlohmann::ordered_json{{"version", version},
                                            {"libtorch", build.libtorch_version},
                                            {"cuda_compiled", build.cuda_compiled},
                                            {"cuda_version", build.cuda_version},
                                            {"cudnn_version", build.cudnn_version},
                                            {"cuda_available", build.cuda_devices > 0},
                                            {"cuda_devices", build.cuda_devices},
                                            {"cudnn_available", build.cudnn_available},
                                            {"default_cpu_threads", at::get_num_threads()},
                                            {"cuda_float32", name_of(cuda_float32())},
                                            {"allocator", describe(current_allocator())}}
                         .dump(2)
                  << "\n";
    });
}

}  // namespace cellscape::tools
