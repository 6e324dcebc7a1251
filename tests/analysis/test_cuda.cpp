// The CPU against CUDA on DARTS networks: the Objective's loss, gradient and
// Hessian-vector product, and training steps. Hidden ([.cuda]):
// scripts/gpu-check.sh runs them on a GPU machine; run anywhere else they
// fail at the first REQUIRE rather than pass unseen. float64 throughout; the
// devices differ in summation order only (cuDNN chooses its own algorithms).
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "cellscape/analysis/model.hpp"
#include "cellscape/analysis/objective.hpp"
#include "cellscape/cells/zoo.hpp"
#include "cellscape/nn/network.hpp"
#include "support/restore_cuda_float32.hpp"
#include "support/small_network.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/util/device.hpp"

using namespace cellscape;

namespace {

nn::DartsNetwork small_network(const std::string& cell) {
    torch::manual_seed(5);
    nn::DartsNetwork network(find_in_zoo(cell)->genotype, testing::small_config(4, 3, {1, 12, 12}));
    network->to(torch::kFloat64);
    return network;
}

LabelledImages images(int64_t count) {
    torch::manual_seed(6);
    return {torch::randn({count, 1, 12, 12}), torch::randint(0, 10, {count})};
}

double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.cpu() - b.cpu()).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-300);
}

}  // namespace

TEST_CASE("on CUDA, the Objective gives the CPU's loss, gradient and Hessian-vector product", "[.cuda]") {
    REQUIRE(torch::cuda::is_available());
    for (const std::string cell : {"DARTS_V2", "AmoebaNet"})
        for (const BatchNormMode bn_mode : {BatchNormMode::eval, BatchNormMode::train}) {
            INFO(cell << ", BatchNorm " << name_of(bn_mode));
            ObjectiveOptions options;
            options.dtype = Precision::float64;
            options.batch_size = 16;
            options.bn_mode = bn_mode;
            Objective cpu(darts_model(small_network(cell)), images(32), options, {});
            options.device = torch::kCUDA;
            Objective gpu(darts_model(small_network(cell)), images(32), options, {});
            const auto direction = torch::randn({cpu.dimension()}, torch::kFloat64);
            CHECK(std::abs(gpu.loss_and_accuracy().loss - cpu.loss_and_accuracy().loss) <
                  1e-12 * cpu.loss_and_accuracy().loss);
            CHECK(relative_difference(gpu.gradient(), cpu.gradient()) < 1e-10);
            CHECK(relative_difference(gpu.hessian_vector_product(direction), cpu.hessian_vector_product(direction)) <
                  1e-10);
        }
}

TEST_CASE("on CUDA in float32, ieee gives the CPU's float32 numbers and files say which was used", "[.cuda]") {
    REQUIRE(torch::cuda::is_available());
    const testing::RestoreCudaFloat32 restore;
    ObjectiveOptions options;  // float32
    options.batch_size = 16;
    auto float32_network = [] {
        nn::DartsNetwork network = small_network("DARTS_V2");
        network->to(torch::kFloat32);
        return network;
    };
    Objective cpu(darts_model(float32_network()), images(32), options, {});
    options.device = torch::kCUDA;
    set_cuda_float32(CudaFloat32::ieee);
    Objective gpu(darts_model(float32_network()), images(32), options, {});
    CHECK(gpu.provenance().cuda_float32 == "ieee");
    CHECK(cpu.provenance().cuda_float32 == "unused");
    // float32 on both, in other summation orders: a few units of float32's
    // 6e-8 per operation through the network's dozen layers stay below 1e-5
    // in the loss and 1e-4 in the gradient's largest entry. TensorFloat-32
    // rounds every product's inputs to 5e-4.
    const double cpu_loss = cpu.loss_and_accuracy().loss;
    CHECK(std::abs(gpu.loss_and_accuracy().loss - cpu_loss) < 1e-5 * cpu_loss);
    CHECK(relative_difference(gpu.gradient(), cpu.gradient()) < 1e-4);
    set_cuda_float32(CudaFloat32::tf32);
    Objective tf32(darts_model(float32_network()), images(32), options, {});
    CHECK(tf32.provenance().cuda_float32 == "tf32");
}

TEST_CASE("on CUDA, training steps reach the CPU's weights", "[.cuda]") {
    REQUIRE(torch::cuda::is_available());
    TrainingConfig config;  // lr 0.025, momentum 0.9, weight decay 3e-4, clipping at 5
    std::vector<torch::Tensor> final_weights;
    for (const torch::Device device : {torch::Device(torch::kCPU), torch::Device(torch::kCUDA)}) {
        nn::DartsNetwork network = small_network("DARTS_V2");
        network->to(device);
        network->train();
        torch::optim::SGD optimizer(network->parameters(), torch::optim::SGDOptions(config.learning_rate)
                                                               .momentum(config.momentum)
                                                               .weight_decay(config.weight_decay));
        const LabelledImages data = images(48);
        for (int64_t step = 0; step < 3; ++step) {
            const auto result = training_step(network, optimizer, data.images.narrow(0, step * 16, 16).to(device,
                                                                                                            torch::kFloat64),
                                              data.labels.narrow(0, step * 16, 16).to(device), config);
            REQUIRE(std::isfinite(result.loss));
        }
        std::vector<torch::Tensor> flat;
        for (const auto& parameter : network->parameters()) flat.push_back(parameter.detach().cpu().flatten());
        final_weights.push_back(torch::cat(flat));
    }
    // Three steps from the same weights on the same batches: the summation
    // order of each step's gradient carries over, still far below 1e-9.
    CHECK(relative_difference(final_weights[1], final_weights[0]) < 1e-9);
}
