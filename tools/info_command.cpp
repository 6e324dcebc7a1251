#include <torch/torch.h>
#include <torch/version.h>

#include <nlohmann/json.hpp>

#include <iostream>

#include "commands.hpp"
#include "util/version.hpp"

namespace cellscape::tools {

void add_info_command(CLI::App& app) {
    auto* command = app.add_subcommand("info", "What this build can use: LibTorch version, CUDA devices, threads");
    command->callback([] {
        const bool cuda = torch::cuda::is_available();
        std::cout << nlohmann::ordered_json{{"version", version},
                                            {"libtorch", TORCH_VERSION},
                                            {"cuda_available", cuda},
                                            {"cuda_devices", cuda ? torch::cuda::device_count() : 0},
                                            {"cudnn_available", cuda && torch::cuda::cudnn_is_available()},
                                            {"default_cpu_threads", at::get_num_threads()}}
                         .dump(2)
                  << "\n";
    });
}

}  // namespace cellscape::tools
