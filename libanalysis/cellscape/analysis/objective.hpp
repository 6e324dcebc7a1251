#pragma once
// The Objective (docs/analysis.md): a model, a fixed and reproducible set of
// evaluation batches, the cross-entropy loss averaged over all of their
// samples, an explicit BatchNorm mode, a dtype and a device. Every analysis
// (Hessian, surfaces, gradient variance) takes one; none touches datasets or
// checkpoints itself.
#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/analysis/model.hpp"
#include "cellscape/analysis/objective_settings.hpp"
#include "cellscape/data/dataset.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/train/evaluation.hpp"

namespace cellscape {

class Hdf5File;

// A gradient (or Hessian-vector product) with NaN or infinite entries: the
// loss overflows, or is not differentiable, at these weights.
class NonFiniteGradient : public Error {
public:
    using Error::Error;
};

// Where the model and the data come from.
struct ObjectiveSource {
    std::string checkpoint;   // a cellscape checkpoint (its dataset unless `dataset` says otherwise)
    std::string torchscript;  // or a TorchScript module ...
    std::string data;         // ... with an HDF5 file of x, y (used as stored) ...
    std::string dataset;      // ... or a dataset spec (normalized as in training)
    // Run the TorchScript module's own (LibTorch) operators rather than
    // cellscape's in their place (nn/script_operators.hpp): the same function,
    // slower Hessian-vector products.
    bool torchscript_as_saved = false;
    // With `checkpoint`: the network its run started from, rebuilt from the
    // run's seed (train/checkpoint.hpp, initial_network), instead of the
    // weights it holds; any checkpoint of a run gives the same network.
    bool initial_weights = false;
};

// Which samples of a dataset Objective::load evaluates. An Objective made
// from samples its caller chose (the constructor) has none of these, and its
// files record none.
struct EvaluationSamples {
    int64_t samples = 1000;  // 0: the whole split
    Sampling sampling = Sampling::random;
    Split split = Split::train;
    uint64_t seed = 0;  // of the random choice (unused, and not recorded, for sequential)

    // SettingError naming the field for a value no split can give.
    void validate() const;
};

// How an Objective evaluates its samples. Threads are the caller's choice
// (util/device.hpp: set_threads), not a setting of the Objective.
struct ObjectiveOptions {
    int64_t batch_size = 250;
    BatchNormMode bn_mode = BatchNormMode::eval;
    Precision dtype = Precision::float32;
    torch::Device device = torch::kCPU;
    std::string params_regex;         // select parameters whose name matches (search)
    std::vector<std::string> groups;  // or that belong to these named groups
    // Memory for the gradient graphs kept between Hessian-vector products
    // (see KeptGraphs below): unset means half of what the device has
    // available when the first product is computed; 0 never keeps one.
    std::optional<int64_t> hvp_memory_bytes;

    // SettingError naming the field for a value no Objective can take;
    // checked before any model or data is loaded.
    void validate() const;
};

// What the analyses of one study (or one command) share: the seed that
// chooses their samples (and seeds their probes and directions), and the
// device they run on, parsed once.
struct AnalysisContext {
    uint64_t seed = 0;
    torch::Device device = torch::kCPU;
    // `count` images of the training split, chosen by the seed.
    EvaluationSamples training_samples(int64_t count) const;
    ObjectiveOptions objective_options(int64_t batch_size, BatchNormMode bn = BatchNormMode::eval) const;
};

// The settings of an evaluation an analysis's file records (part of its
// "settings" attribute, which a study compares on a rerun): each only when
// it is not the default, so that files from before a setting was recorded
// still compare equal: bn (eval), split (train), sampling (random), dtype
// (float32).
void add_evaluation_settings(nlohmann::ordered_json& settings, const EvaluationSamples& samples,
                             const ObjectiveOptions& options);

// Where the gradient graphs kept for Hessian-vector products stand.
struct KeptGraphs {
    std::size_t batches_kept = 0;     // evaluation batches whose graph is kept
    std::size_t batch_count = 0;      // of this many
    int64_t bytes = 0;                // memory they hold, as measured when each was built
    int64_t budget_bytes = 0;         // what they may hold
    int64_t graphs_built = 0;         // graphs kept since the Objective was made (rebuilt after weight changes)
};

// What the results files record about how the Objective was made: only
// what was used. Objective::load fills the samples' source (dataset, split,
// sampling, seed when random, sample_indices_hash); an Objective made from
// the caller's samples leaves them empty, and write_to writes no attribute
// for an empty field.
struct ObjectiveProvenance {
    std::string model_source, model_operators, weights_hash, dataset, split, sample_indices_hash, sampling, bn_mode, dtype, device,
        parameter_selection;
    std::string cuda_float32;  // "ieee" or "tf32" for float32 on CUDA, else "unused" (util/device.hpp)
    std::optional<uint64_t> seed;
    int64_t samples = 0, batch_size = 0, parameter_count = 0;
    void write_to(Hdf5File& file) const;  // as root attributes
};

// The model and the evaluation samples Objective::load evaluates, for
// analyses that run the model themselves (zero-cost proxies, proxies.hpp).
// The provenance holds the model's and the samples' source only.
struct LoadedModel {
    std::unique_ptr<Model> model;
    LabelledImages samples;
    ObjectiveProvenance provenance;
};
LoadedModel load_model_and_samples(const ObjectiveSource& source, const EvaluationSamples& samples);

// Error unless `output` is logits for `labels`: [N, C] with C above every label.
void check_logits(const torch::Tensor& output, const torch::Tensor& labels);

class Objective {
public:
    Objective(std::unique_ptr<Model> model, LabelledImages evaluation_set, const ObjectiveOptions& options,
              ObjectiveProvenance provenance);
    static Objective load(const ObjectiveSource& source, const EvaluationSamples& samples,
                          const ObjectiveOptions& options);

    // Number of selected parameters: the dimension of gradients and Hessian.
    int64_t dimension() const { return dimension_; }
    const NamedTensors& parameters() const { return selected_; }
    const ObjectiveProvenance& provenance() const { return provenance_; }
    torch::Device device() const { return device_; }
    torch::ScalarType dtype() const { return dtype_; }
    int64_t sample_count() const { return samples_; }

    // Mean loss and accuracy over the evaluation set, without autograd. A
    // non-finite loss is an error unless `require_finite` is false (a surface
    // records it at points where the loss overflows).
    LossAndAccuracy loss_and_accuracy(bool require_finite = true);
    // Gradient of the mean loss with respect to the selected parameters (flat).
    torch::Tensor gradient();
    // Gradient of the mean loss over evaluation batch `index` alone (flat).
    torch::Tensor batch_gradient(std::size_t index);
    std::size_t batch_count() const { return batches_.size(); }
    int64_t batch_samples(std::size_t index) const { return batches_.at(index).second.size(0); }
    // Hessian of the mean loss times `vector` (flat, any dtype/device), by double
    // backpropagation summed over the batches: exactly the Hessian of that loss.
    //
    // The weights do not change between the products of Lanczos, Hutchinson
    // or SLQ, so the first product builds each batch's gradient with its
    // graph and keeps it while the budget (ObjectiveOptions::hvp_memory_bytes)
    // allows; later products pay only the second backward pass on the kept
    // batches and recompute the others. Kept graphs are dropped when the
    // weights or buffers change (through this class or in place: the
    // tensors' version counters are compared), by release_kept_graphs(),
    // and with the Objective. BatchNorm in train mode keeps none: each
    // forward pass moves the running statistics the graph has saved.
    torch::Tensor hessian_vector_product(const torch::Tensor& vector);
    int64_t hvp_count() const { return hvp_count_; }
    KeptGraphs kept_graphs() const;
    // The gradient, as gradient() gives it, computed so that its graphs are
    // kept for the products that follow (within the budget): free when a
    // Hessian analysis needs it anyway (Lanczos starts from it).
    torch::Tensor gradient_keeping_graphs();
    // loss_and_accuracy(), from the forward passes that build the graphs
    // when none is built yet and the budget allows (a Hessian analysis
    // needs them next); otherwise as loss_and_accuracy().
    LossAndAccuracy loss_and_accuracy_keeping_graphs();
    void release_kept_graphs();

    // The selected parameters as one flat vector, and setting them from one.
    torch::Tensor parameter_vector() const;
    void set_parameter_vector(const torch::Tensor& flat);
    // The model's buffers (BatchNorm running statistics), and setting the
    // floating-point ones by name (e.g. along an interpolation between checkpoints).
    const NamedTensors& buffers() const { return buffers_; }
    void set_buffers(const NamedTensors& values);
    // Splits a flat vector into tensors shaped like the selected parameters, and back.
    std::vector<torch::Tensor> unflatten(const torch::Tensor& flat) const;
    torch::Tensor flatten(const std::vector<torch::Tensor>& tensors) const;

private:
    // In train mode a forward pass updates BatchNorm's running statistics in
    // place; every computation restores them once its backward passes are
    // done (restoring earlier would invalidate tensors autograd saved).
    void restore_running_statistics();
    void check_output(const torch::Tensor& logits, const torch::Tensor& labels) const;
    // Batch `index`'s summed loss / samples and its gradient with a graph.
    std::vector<torch::Tensor> gradient_with_graph(std::size_t index, ClassifierTally* tally = nullptr);
    // The version counters of every parameter and buffer of the model.
    std::vector<int64_t> weight_versions() const;
    // Drops kept graphs that no longer match the weights; decides the budget.
    void prepare_kept_graphs();
    void begin_graph_pass();  // prepare_kept_graphs, and a slot per batch
    // Batch `index`'s gradient with its graph: the kept one, or built now and
    // kept when the budget allows (`kept` says whether it is).
    std::vector<torch::Tensor> graph_gradient(std::size_t index, bool& kept, ClassifierTally* tally = nullptr);
    LossAndAccuracy build_graphs();  // every batch's graph; sets built_gradient_
    bool graphs_started() const;

    std::unique_ptr<Model> model_;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> batches_;  // inputs, labels on the device
    NamedTensors selected_;
    std::vector<torch::Tensor> selected_tensors_;  // the same tensors, as autograd::grad takes them
    NamedTensors buffers_, buffer_snapshot_;
    bool batch_statistics_;
    torch::Device device_;
    torch::ScalarType dtype_;
    int64_t samples_ = 0, dimension_ = 0, hvp_count_ = 0;
    std::optional<int64_t> hvp_memory_setting_;
    std::vector<std::vector<torch::Tensor>> kept_;  // per batch: gradients with graph, or empty
    std::vector<int64_t> kept_bytes_;               // per batch: memory measured when it was kept
    std::vector<int64_t> kept_versions_;            // weight_versions() when the graphs were built
    int64_t kept_budget_ = -1;                      // bytes; -1: not decided yet
    int64_t graphs_built_ = 0;
    torch::Tensor built_gradient_;  // the gradient summed while building the kept graphs
    ObjectiveProvenance provenance_;
};

}  // namespace cellscape
