#include "cellscape/analysis/proxies.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <chrono>
#include <cmath>

#include "cellscape/analysis/detail/autograd.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/nn/forward_observer.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"

namespace cellscape {
namespace {

namespace F = torch::nn::functional;

// What the reference code iterates over: the weights of nn.Conv2d and
// nn.Linear modules, which are exactly the parameters of two or more
// dimensions (BatchNorm's weights and every bias have one) that gradients
// reach. A layer the output does not reach has zero gradients
// (gradients_or_zeros), as there.
std::vector<torch::Tensor> layer_weights(Model& model) {
    std::vector<torch::Tensor> weights;
    for (const auto& [name, parameter] : model.named_parameters())
        if (parameter.dim() >= 2 && parameter.requires_grad()) weights.push_back(parameter);
    return weights;
}

// The model's parameters and buffers, restored when the proxies are done:
// training-mode forward passes move BatchNorm's running statistics, and
// synflow changes every parameter.
class StateSnapshot {
public:
    explicit StateSnapshot(Model& model) : model_(model) {
        for (auto& [name, tensor] : model.named_parameters()) parameters_.push_back(tensor.detach().clone());
        for (auto& [name, tensor] : model.named_buffers()) buffers_.push_back(tensor.detach().clone());
    }
    void restore() {
        torch::NoGradGuard no_grad;
        std::size_t i = 0;
        for (auto& [name, tensor] : model_.named_parameters()) tensor.copy_(parameters_.at(i++));
        i = 0;
        for (auto& [name, tensor] : model_.named_buffers()) tensor.copy_(buffers_.at(i++));
    }

private:
    Model& model_;
    std::vector<torch::Tensor> parameters_, buffers_;
};

struct Batch {
    torch::Tensor images, labels;
};

torch::Tensor mean_loss(Model& model, const Batch& batch) {
    return F::cross_entropy(model.forward(batch.images), batch.labels);
}

double sum_of(const std::vector<torch::Tensor>& terms) {
    double total = 0;
    for (const torch::Tensor& term : terms) total += term.sum().item<double>();
    return total;
}

// grad_norm: the L2 norm of each layer weight's gradient, summed.
double gradient_norm(Model& model, const Batch& batch) {
    const auto weights = layer_weights(model);
    const auto g = gradients_or_zeros(mean_loss(model, batch), weights, false);
    std::vector<torch::Tensor> norms;
    for (const torch::Tensor& gradient : g) norms.push_back(gradient.norm());
    return sum_of(norms);
}

// sum |W * g| over the layer weights: SNIP's and synflow's score.
double sum_of_absolute_products(const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& g) {
    std::vector<torch::Tensor> terms;
    for (std::size_t i = 0; i < weights.size(); ++i) terms.push_back((weights[i].detach() * g[i]).abs());
    return sum_of(terms);
}

// SNIP: |dL/dmask| for W * mask at mask = 1 is |W * dL/dW|.
double snip(Model& model, const Batch& batch) {
    const auto weights = layer_weights(model);
    return sum_of_absolute_products(weights, gradients_or_zeros(mean_loss(model, batch), weights, false));
}

// GraSP: -W * Hg, with Hg the gradient of z = g . dL/dW (g held fixed):
// the Hessian over the layer weights times their gradient.
double grasp(Model& model, const Batch& batch) {
    const auto weights = layer_weights(model);
    const auto with_graph = gradients_or_zeros(mean_loss(model, batch), weights, /*create_graph=*/true);
    torch::Tensor z = torch::zeros({}, with_graph.front().options());
    for (const torch::Tensor& gradient : with_graph) z = z + (gradient.detach() * gradient).sum();
    const auto hg = gradients_or_zeros(z, weights, false);
    std::vector<torch::Tensor> terms;
    for (std::size_t i = 0; i < weights.size(); ++i) terms.push_back(-weights[i].detach() * hg[i]);
    return sum_of(terms);
}

// Fisher's observer: every layer output a continues as a * mask, the mask
// of ones shaped [samples, channels, 1, ...], so that dL/dmask_nk is
// g_nk = sum over positions of a * dL/da, the reference's per-sample,
// per-channel product of activation and gradient.
class ChannelMasks : public nn::ForwardObserver {
public:
    void rectifier_input(const torch::Tensor&) override {}
    torch::Tensor layer_output(const torch::Tensor& weight, const torch::Tensor& output) override {
        std::vector<int64_t> shape(static_cast<std::size_t>(output.dim()), 1);
        shape.at(0) = output.size(0);
        shape.at(1) = output.size(1);
        masks.push_back(torch::ones(shape, output.options()).requires_grad_(true));
        channel_elements.push_back(weight.numel() / weight.size(0));
        return output * masks.back();
    }
    std::vector<torch::Tensor> masks;
    std::vector<int64_t> channel_elements;  // per mask: the weights of one output channel
};

// Fisher: per layer output, 0.5 mean_n g_nk^2 for each channel k, counted
// once per weight of the channel (the reference spreads a channel's value
// over its weights, then sums them), summed over channels and layers.
double fisher(Model& model, const Batch& batch) {
    ChannelMasks observer;
    torch::Tensor loss;
    {
        const nn::ForwardObserverGuard observing(observer);
        loss = mean_loss(model, batch);
    }
    const auto g = gradients_or_zeros(loss, observer.masks, false);
    double total = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
        const torch::Tensor per_sample = g[i].to(torch::kFloat64).reshape({g[i].size(0), g[i].size(1)});
        const torch::Tensor per_channel = per_sample.square().mean(0).mul(0.5);
        total += per_channel.abs().sum().item<double>() * static_cast<double>(observer.channel_elements[i]);
    }
    return total;
}

// NASWOT's observer: the kernel K += c c^T + (1 - c)(1 - c)^T for the binary
// codes c (input > 0, one row per sample) entering each ReLU.
class SignAgreements : public nn::ForwardObserver {
public:
    void rectifier_input(const torch::Tensor& input) override {
        const torch::Tensor codes = input.detach().reshape({input.size(0), -1}).gt(0).to(torch::kFloat64);
        const torch::Tensor others = 1.0 - codes;
        const torch::Tensor agreements = codes.matmul(codes.t()) + others.matmul(others.t());
        kernel = kernel.defined() ? kernel + agreements : agreements;
        ++rectifiers;
    }
    torch::Tensor layer_output(const torch::Tensor&, const torch::Tensor& output) override { return output; }
    torch::Tensor kernel;
    int64_t rectifiers = 0;
};

// NASWOT: log |det K| over one forward pass (the reference's slogdet).
double naswot(Model& model, const Batch& batch) {
    SignAgreements observer;
    {
        const torch::NoGradGuard no_grad;
        const nn::ForwardObserverGuard observing(observer);
        model.forward(batch.images);
    }
    if (observer.rectifiers == 0) throw Error("naswot: the model applied no ReLU, so its codes are empty");
    return std::get<1>(torch::linalg_slogdet(observer.kernel.cpu())).item<double>();
}

// BatchNorm as an identity, as the reference's copy of the network without
// BatchNorm: in eval mode, (x - 0) / sqrt((1 - eps) + eps) * 1 + 0 with
// PyTorch's and LibTorch's default eps. A BatchNorm is found by its
// running_mean buffer; its weight and bias are the parameters beside it.
void make_batch_norms_identities(Model& model) {
    constexpr double eps = 1e-5;
    torch::NoGradGuard no_grad;
    std::vector<std::string> prefixes;
    for (auto& [name, buffer] : model.named_buffers()) {
        const std::string suffix = "running_mean";
        if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        prefixes.push_back(name.substr(0, name.size() - suffix.size()));
    }
    auto owned = [&](const std::string& name, const std::string& field) {
        for (const std::string& prefix : prefixes)
            if (name == prefix + field) return true;
        return false;
    };
    for (auto& [name, buffer] : model.named_buffers()) {
        if (owned(name, "running_mean")) buffer.zero_();
        if (owned(name, "running_var")) buffer.fill_(1.0 - eps);
    }
    for (auto& [name, parameter] : model.named_parameters()) {
        if (owned(name, "weight")) parameter.fill_(1.0);
        if (owned(name, "bias")) parameter.zero_();
    }
}

// synflow: every parameter made |p|, BatchNorm an identity, float64, one
// all-ones input; R = sum of the outputs; |W * dR/dW| summed.
double synflow(Model& model, const Batch& batch, torch::Device device) {
    model.to(device, torch::kFloat64);
    {
        torch::NoGradGuard no_grad;
        for (auto& [name, parameter] : model.named_parameters()) parameter.abs_();
    }
    make_batch_norms_identities(model);
    model.set_training(false);
    auto shape = batch.images.sizes().vec();
    shape.front() = 1;
    const torch::Tensor ones = torch::ones(shape, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    const auto weights = layer_weights(model);
    return sum_of_absolute_products(weights, gradients_or_zeros(model.forward(ones).sum(), weights, false));
}

// A proxy's value, or why it has none.
struct Outcome {
    double score = NAN;
    std::string undefined;  // "" when `score` is the proxy's value
};

// The input gradient of the batch's summed outputs is zero in exact
// arithmetic when BatchNorm on the batch's statistics feeds the classifier
// through nothing but skips and sums (a DARTS normal cell last: every
// sep_conv, dil_conv and preprocessing ends in BatchNorm): the summed logits
// are then N times the sum of the classifier's biases whatever the input.
// What autograd returns is rounding, of order eps x N x one sample's
// gradient, and a score built on it measures that noise (it moves with the
// thread count). It is told apart from a genuine Jacobian by its norm
// against the input gradient of one sample's summed outputs: below
// 100 x eps x N, a hundred times the rounding's size and far below any
// Jacobian a network computes (of the order of that sample's, or larger).
std::string degenerate_jacobian(Model& model, const torch::Tensor& inputs, const torch::Tensor& outputs,
                                const torch::Tensor& jacobian) {
    const torch::Tensor one = torch::autograd::grad({outputs[0].sum()}, {inputs}, {}, /*retain_graph=*/false)[0];
    const double whole = jacobian.to(torch::kFloat64).norm().item<double>();
    const double sample = one.to(torch::kFloat64).norm().item<double>();
    // TensorFloat-32 products on a GPU round to 10 bits.
    const bool tf32 = cuda_float32_used(inputs.device(), inputs.scalar_type()) == "tf32";
    const double eps = inputs.scalar_type() == torch::kFloat64 ? 2.220446049250313e-16
                       : tf32                                  ? 9.765625e-04
                                                               : 1.1920929e-07;
    const double limit = 100 * eps * static_cast<double>(inputs.size(0));
    (void)model;
    if (sample == 0 && whole == 0)
        return "not defined for this model: its outputs do not depend on its input (every input gradient is zero)";
    if (whole < limit * sample)
        return fmt::format("not defined for this model: the input gradient of the batch's summed outputs is {:.1e} "
                           "of one sample's, zero up to rounding (with BatchNorm on the batch's statistics the summed "
                           "logits do not depend on the input when the last cell's outputs are BatchNorm outputs or "
                           "skips of them), so the score would measure rounding noise",
                           whole / sample);
    return "";
}

// jacob_cov: the correlation matrix of the samples' input gradients of the
// summed outputs (numpy's corrcoef, clipped to [-1, 1]), its eigenvalues v
// (symmetric), and -sum(log(v + k) + 1 / (v + k)), k = 1e-5; not defined
// where that gradient is zero up to rounding (degenerate_jacobian).
Outcome jacobian_covariance(Model& model, const Batch& batch) {
    const torch::Tensor inputs = batch.images.detach().clone().requires_grad_(true);
    const torch::Tensor outputs = model.forward(inputs);
    const torch::Tensor jacobian =
        torch::autograd::grad({outputs}, {inputs}, {torch::ones_like(outputs)}, /*retain_graph=*/true)[0]
            .reshape({inputs.size(0), -1});
    const std::string undefined = degenerate_jacobian(model, inputs, outputs, jacobian);
    if (!undefined.empty()) return {NAN, undefined};
    const torch::Tensor rows = jacobian.to(torch::kCPU, torch::kFloat64);
    const torch::Tensor centred = rows - rows.mean(1, true);
    const torch::Tensor covariance = centred.matmul(centred.t());
    const torch::Tensor scale = covariance.diagonal().sqrt();
    const torch::Tensor correlation =
        (covariance / scale.unsqueeze(1) / scale.unsqueeze(0)).clamp(-1.0, 1.0).contiguous();
    const int64_t n = correlation.size(0);
    const Eigen::Map<const Eigen::MatrixXd> matrix(correlation.data_ptr<double>(), n, n);
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(matrix, Eigen::EigenvaluesOnly);
    constexpr double k = 1e-5;
    double score = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
        const double v = solver.eigenvalues()[i];
        score -= std::log(v + k) + 1.0 / (v + k);
    }
    return {score, ""};
}

// ZiCo: each batch's gradient of its mean loss; per layer weight, the mean
// absolute gradient over the batches over their (population) standard
// deviation, summed over the elements whose deviation is not zero; the log
// of that sum, summed over the layer weights (a layer whose sum is zero adds
// nothing).
double zico(Model& model, const Batch& batch, int64_t batch_count) {
    const auto weights = layer_weights(model);
    const int64_t size = batch.labels.size(0) / batch_count;
    std::vector<std::vector<torch::Tensor>> per_batch;  // [batch][layer], float64
    for (int64_t b = 0; b < batch_count; ++b) {
        const Batch part{batch.images.narrow(0, b * size, size), batch.labels.narrow(0, b * size, size)};
        auto g = gradients_or_zeros(mean_loss(model, part), weights, false);
        for (torch::Tensor& gradient : g) gradient = gradient.to(torch::kFloat64).flatten();
        per_batch.push_back(std::move(g));
    }
    double score = 0;
    for (std::size_t layer = 0; layer < weights.size(); ++layer) {
        std::vector<torch::Tensor> rows;
        for (const auto& g : per_batch) rows.push_back(g[layer]);
        const torch::Tensor stacked = torch::stack(rows);
        const torch::Tensor mean = stacked.sum(0) / static_cast<double>(batch_count);
        const torch::Tensor deviation =
            ((stacked - mean).square().sum(0) / static_cast<double>(batch_count)).sqrt();
        const torch::Tensor mean_absolute = stacked.abs().sum(0) / static_cast<double>(batch_count);
        const torch::Tensor nonzero = deviation != 0;
        const double total = (mean_absolute.masked_select(nonzero) / deviation.masked_select(nonzero)).sum().item<double>();
        if (total != 0) score += std::log(total);
    }
    return score;
}

Outcome computed(Proxy proxy, Model& model, const Batch& batch, const ProxyOptions& options) {
    switch (proxy) {
        case Proxy::grad_norm: return {gradient_norm(model, batch), ""};
        case Proxy::snip: return {snip(model, batch), ""};
        case Proxy::grasp: return {grasp(model, batch), ""};
        case Proxy::fisher: return {fisher(model, batch), ""};
        case Proxy::naswot: return {naswot(model, batch), ""};
        case Proxy::synflow: return {synflow(model, batch, options.device), ""};
        case Proxy::jacob_cov: return jacobian_covariance(model, batch);
        case Proxy::zico: return {zico(model, batch, options.zico_batches), ""};
    }
    throw Error("unknown proxy");
}

// The proxy's outcome; a value that is not a finite number is not one
// (a NaN or an infinity cannot be ranked), and says so.
Outcome compute(Proxy proxy, Model& model, const Batch& batch, const ProxyOptions& options) {
    Outcome outcome = computed(proxy, model, batch, options);
    if (outcome.undefined.empty() && !std::isfinite(outcome.score))
        outcome = {NAN, fmt::format("not defined for this model and batch: the score came out {} (a log of zero, a "
                                    "division by zero, or a value beyond the floating-point range: float64 may "
                                    "hold it)",
                                    outcome.score)};
    return outcome;
}

}  // namespace

ProxyJob resolve_proxies(const ProxySettings& settings, const AnalysisContext& context) {
    if (settings.samples < 1)
        throw SettingError("samples", fmt::format("must be at least 1, the images of the proxies' batch (got {}); 64 "
                                                  "is the default",
                                                  settings.samples));
    ProxyJob job;
    job.samples = context.training_samples(settings.samples);
    job.samples.validate();
    job.options.proxies = settings.proxies;
    job.options.zico_batches = settings.zico_batches;
    job.options.device = context.device;
    job.options.dtype = settings.dtype;
    job.options.validate(settings.samples);
    return job;
}

nlohmann::ordered_json proxy_settings_json(const ProxyJob& job) {
    nlohmann::json proxies = nlohmann::json::array();
    for (const Proxy proxy : job.options.proxies) proxies.push_back(name_of(proxy));
    nlohmann::ordered_json settings = {
        {"proxies", proxies}, {"samples", job.samples.samples}, {"zico_batches", job.options.zico_batches}};
    if (job.options.dtype != Precision::float32) settings["dtype"] = name_of(job.options.dtype);
    return settings;
}

void ProxyOptions::validate(int64_t samples) const {
    if (proxies.empty()) throw SettingError("proxies", "names none: give at least one proxy");
    for (std::size_t i = 0; i < proxies.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (proxies[i] == proxies[j])
                throw SettingError("proxies", fmt::format("names {} twice", name_of(proxies[i])));
    const bool zico_asked = std::find(proxies.begin(), proxies.end(), Proxy::zico) != proxies.end();
    if (zico_asked && (zico_batches < 2 || zico_batches > samples))
        throw SettingError("zico_batches", fmt::format("must be between 2 (a deviation needs two batches) and the {} "
                                                       "samples (got {})",
                                                       samples, zico_batches));
    if (zico_asked && samples % zico_batches != 0)
        throw SettingError("zico_batches", fmt::format("must divide the {} samples into equal batches (got {})",
                                                       samples, zico_batches));
    require_available(device, "device");
}

double ProxyScores::at(Proxy proxy) const {
    for (const auto& [which, score] : scores)
        if (which == proxy) return score;
    throw Error(fmt::format("the proxy {} was not computed", name_of(proxy)));
}

const std::string* ProxyScores::refusal(Proxy proxy) const {
    for (const auto& [which, reason] : refused)
        if (which == proxy) return &reason;
    return nullptr;
}

namespace {

// Why `proxy` cannot be computed for `model`, before any work ("" when it can).
std::string cannot_compute(Proxy proxy, Model& model, bool has_layer_weights) {
    auto frozen_weights = [&] {
        for (const auto& [name, parameter] : model.named_parameters())
            if (parameter.dim() >= 2 && !parameter.requires_grad()) return true;
        return false;
    };
    if (proxy == Proxy::fisher)
        if (const std::string hidden = model.layer_outputs_hidden(); !hidden.empty())
            return "needs the model's layer outputs, but " + hidden;
    if (proxy == Proxy::naswot)
        if (const std::string hidden = model.rectifier_inputs_hidden(); !hidden.empty())
            return "needs the model's ReLU inputs, but " + hidden;
    const bool needs_weights = proxy != Proxy::fisher && proxy != Proxy::naswot && proxy != Proxy::jacob_cov;
    if (needs_weights && !has_layer_weights) {
        const std::string missing = model.parameters_missing();
        return "needs the gradients of layer weights (parameters of two or more dimensions that require gradients), "
               "but " + (!missing.empty() ? missing
                         : frozen_weights() ? std::string("the model's are all saved with requires_grad off: save "
                                                          "it with them on")
                                            : std::string("the model has none"));
    }
    return "";
}

// Error unless one training-mode pass on the batch gives logits of shape
// [N, C] with C above every label (a label beyond the classes, or 1-D
// logits, would otherwise end inside LibTorch's loss).
void require_logits(Model& model, const Batch& batch) {
    torch::NoGradGuard no_grad;
    model.set_training(true);
    check_logits(model.forward(batch.images), batch.labels);
}

}  // namespace

ProxyScores zero_cost_proxies(Model& model, const LabelledImages& samples, const ProxyOptions& options,
                              ProgressSink* progress) {
    options.validate(samples.size());
    const auto start = std::chrono::steady_clock::now();
    const torch::ScalarType dtype = scalar_type_of(options.dtype);
    model.to(options.device, dtype);
    // Contiguous, not channels-last: BatchNorm's batch statistics in
    // channels-last float32 are ~100x less exact (batch-mean error 2.4e-5
    // against 3.2e-7 measured), which moved float32 scores by 1e-3 where
    // the reference code's float32 is within 1e-6 of float64.
    model.set_memory_format(torch::MemoryFormat::Contiguous);
    StateSnapshot snapshot(model);
    const Batch batch{samples.images.to(options.device, dtype), samples.labels.to(options.device)};
    require_logits(model, batch);
    snapshot.restore();
    const ProgressTask task(progress, "proxies", static_cast<int64_t>(options.proxies.size()), "proxies");
    ProxyScores result;
    result.samples = samples.size();
    for (const torch::Tensor& weight : layer_weights(model)) result.layer_weights += weight.numel();
    int64_t done = 0;
    for (const Proxy proxy : options.proxies) {
        if (InterruptGuard::requested())
            throw Interrupted(InterruptGuard::signal_number(), "interrupted between proxies; nothing is saved: run it again");
        std::string refused = cannot_compute(proxy, model, result.layer_weights > 0);
        if (refused.empty()) {
            model.set_training(true);
            const Outcome outcome = compute(proxy, model, batch, options);
            model.to(options.device, dtype);  // synflow ran in float64
            snapshot.restore();
            refused = outcome.undefined;
            if (refused.empty()) result.scores.emplace_back(proxy, outcome.score);
        }
        if (!refused.empty()) result.refused.emplace_back(proxy, refused);
        task.update(++done, refused.empty() ? fmt::format("{} {:.6g}", name_of(proxy), result.scores.back().second)
                                            : fmt::format("{} refused", name_of(proxy)));
    }
    model.set_training(false);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

nlohmann::ordered_json proxies_json(const ProxyScores& scores) {
    nlohmann::ordered_json json;
    for (const auto& [proxy, score] : scores.scores) json[std::string(name_of(proxy))] = score;
    if (!scores.refused.empty()) {
        nlohmann::ordered_json refused = nlohmann::ordered_json::object();
        for (const auto& [proxy, reason] : scores.refused) refused[std::string(name_of(proxy))] = reason;
        json["refused"] = refused;
    }
    json["samples"] = scores.samples;
    json["layer_weights"] = scores.layer_weights;
    json["seconds"] = scores.seconds;
    return json;
}

ObjectiveProvenance proxies_provenance(ObjectiveProvenance source, const ProxyScores& scores,
                                       const ProxyOptions& options) {
    const torch::ScalarType dtype = scalar_type_of(options.dtype);
    source.samples = scores.samples;
    source.batch_size = scores.samples;
    source.bn_mode = "train";
    source.dtype = std::string(name_of(options.dtype));
    source.device = options.device.str();
    source.cuda_float32 = cuda_float32_used(options.device, dtype);
    source.parameter_selection = "layer weights (parameters of two or more dimensions)";
    source.parameter_count = scores.layer_weights;
    return source;
}


}  // namespace cellscape
