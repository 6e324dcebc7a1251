#pragma once
// Zero-cost proxies (docs/analysis.md, "Zero-cost proxies"): scores NAS
// computes from one or a few batches at (or near) initialization to rank
// networks without training them. Each is defined as its reference code
// computes it (SamsungLabs/zero-cost-nas, commit a43bfbc; SLDGroup/ZiCo,
// commit b0fec65; NASWOT: BayesWatch/nas-without-training, commit b3a82a6),
// on the weights of the model's convolutions and linear
// layers ("layer weights": every parameter of two or more dimensions):
//
//   grad_norm  sum over layer weights W of ||dL/dW||_2
//   snip       sum |W * dL/dW|         (dL/dmask of W * mask at mask = 1)
//   grasp      sum -W * (H g)          g = dL/dW, H the Hessian of L over the layer weights
//   fisher     sum over convolutions and linear layers, output a (before BatchNorm), of
//              m * sum_k 0.5 mean_n g_nk^2, g_nk = sum over positions of a * dL/da for
//              sample n, channel k; m the elements of one channel's weights (W.numel / channels)
//   synflow    sum |W * dR/dW|         R = sum of the outputs for one all-ones input,
//                                      every parameter made |p|, BatchNorm an identity, float64
//   jacob_cov  -sum_i log(v_i + k) + 1 / (v_i + k), v the eigenvalues of the correlation
//              matrix of the samples' input gradients of the summed outputs, k = 1e-5
//   naswot     log |det K|, K_ij = sum over the network's ReLUs of the units where samples i
//              and j are on the same side of zero (their binary codes' agreements)
//   zico       sum over layer weights of log sum_j mean_b|g_bj| / std_b(g_bj) over the
//              elements whose standard deviation across the batches b is not zero
//
// L is the mean cross-entropy over the samples (one batch; ZiCo: each of its
// batches), with BatchNorm on each batch's statistics (train mode), as the
// reference code runs a freshly built network. fisher and naswot watch the
// layers through nn::ForwardObserver: the model must show them
// (Model::layer_outputs_hidden, Model::rectifier_inputs_hidden), and naswot
// counts a ReLU once per operation that applies it, as the DARTS code's
// per-operation ReLU modules are hooked.
#include <nlohmann/json.hpp>

#include <array>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cellscape/analysis/model.hpp"
#include "cellscape/analysis/objective.hpp"
#include "cellscape/analysis/proxy_settings.hpp"
#include "cellscape/data/dataset.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/util/names.hpp"
#include "cellscape/util/progress.hpp"

namespace cellscape {


struct ProxyOptions {
    std::vector<Proxy> proxies = all_proxies();
    // ZiCo's batches: the samples in this many consecutive, equal batches (at least 2).
    int64_t zico_batches = 2;
    // The device and floating-point type of every proxy but synflow (always float64).
    torch::Device device = torch::kCPU;
    Precision dtype = Precision::float32;

    // SettingError naming the field ("proxies", "zico_batches").
    void validate(int64_t samples) const;
};

// Proxies as they run: the one batch of samples and the options.
struct ProxyJob {
    EvaluationSamples samples;
    ProxyOptions options;
};

// A study's proxy settings made into what runs in `context` (samples chosen
// by its seed, on its device). SettingError naming the [analysis.proxies]
// key for values no run can use.
ProxyJob resolve_proxies(const ProxySettings& settings, const AnalysisContext& context);

// The settings a proxies file records as its "settings" attribute, for the
// study's files and the proxies command's: proxies, samples, zico_batches,
// and dtype only when not float32. The seed is the caller's to record.
nlohmann::ordered_json proxy_settings_json(const ProxyJob& job);

struct ProxyScores {
    std::vector<std::pair<Proxy, double>> scores;  // in the order asked for
    // The proxies asked for that have no value for this model, with why:
    // one that cannot be computed (no layer weights, layers the model does
    // not show) and one not defined (jacob_cov's degenerate Jacobian, a
    // non-finite score). Never in `scores`.
    std::vector<std::pair<Proxy, std::string>> refused;
    int64_t samples = 0, layer_weights = 0;         // samples used; parameters counted as layer weights
    double seconds = 0;
    double at(Proxy proxy) const;                  // Error when the proxy was not computed
    const std::string* refusal(Proxy proxy) const;  // why the proxy has no value; nullptr when it has one
};

// Computes the proxies on `model` and `samples` (images as the model takes
// them, labels). The model's parameters and buffers are as found afterwards
// (every proxy starts from them); it is left in eval mode, contiguous, on the
// options' device and dtype. Error before any proxy when the model's logits
// do not fit the labels; a proxy without a value is in `refused`, with
// why. Progress per proxy.
ProxyScores zero_cost_proxies(Model& model, const LabelledImages& samples, const ProxyOptions& options,
                              ProgressSink* progress = nullptr);

nlohmann::ordered_json proxies_json(const ProxyScores& scores);

// What a proxies file records: `source`'s model and samples (from
// load_model_and_samples), and how the proxies evaluated them.
ObjectiveProvenance proxies_provenance(ObjectiveProvenance source, const ProxyScores& scores,
                                       const ProxyOptions& options);


}  // namespace cellscape
