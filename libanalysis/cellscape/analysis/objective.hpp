#pragma once
// The Objective (docs/analysis.md): a model, a fixed and reproducible set of
// evaluation batches, the cross-entropy loss averaged over all of their
// samples, an explicit BatchNorm mode, a dtype and a device. Every analysis
// (Hessian, surfaces, gradient variance) takes one; none touches datasets or
// checkpoints itself.
#include <torch/torch.h>

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
};

// How an Objective is made. Threads are the caller's choice
// (util/device.hpp: set_threads), not a setting of the Objective.
struct ObjectiveOptions {
    int64_t samples = 1000;  // evaluation samples (0: the whole split)
    int64_t batch_size = 250;
    Sampling sampling = Sampling::random;
    Split split = Split::train;
    uint64_t seed = 0;
    BatchNormMode bn_mode = BatchNormMode::eval;
    Precision dtype = Precision::float32;
    torch::Device device = torch::kCPU;
    std::string params_regex;         // select parameters whose name matches (search)
    std::vector<std::string> groups;  // or that belong to these named groups

    // SettingError naming the field for a value no Objective can take;
    // checked before any model or data is loaded.
    void validate() const;
};

// What the results files record about how the Objective was made.
struct ObjectiveProvenance {
    std::string model_source, weights_hash, dataset, split, sample_indices_hash, sampling, bn_mode, dtype, device,
        parameter_selection;
    uint64_t seed = 0;
    int64_t samples = 0, batch_size = 0, parameter_count = 0;
    void write_to(Hdf5File& file) const;  // as root attributes
};

class Objective {
public:
    Objective(std::unique_ptr<Model> model, LabelledImages evaluation_set, const ObjectiveOptions& options,
              ObjectiveProvenance provenance);
    static Objective load(const ObjectiveSource& source, const ObjectiveOptions& options);

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
    torch::Tensor hessian_vector_product(const torch::Tensor& vector);
    int64_t hvp_count() const { return hvp_count_; }

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

    std::unique_ptr<Model> model_;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> batches_;  // inputs, labels on the device
    NamedTensors selected_;
    std::vector<torch::Tensor> selected_tensors_;  // the same tensors, as autograd::grad takes them
    NamedTensors buffers_, buffer_snapshot_;
    bool batch_statistics_;
    torch::Device device_;
    torch::ScalarType dtype_;
    int64_t samples_ = 0, dimension_ = 0, hvp_count_ = 0;
    ObjectiveProvenance provenance_;
};

}  // namespace cellscape
