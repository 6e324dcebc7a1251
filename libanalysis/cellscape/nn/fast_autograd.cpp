#include "cellscape/nn/detail/fast_autograd.hpp"

#include <algorithm>
#include <vector>

#include "cellscape/nn/detail/fast_paths.hpp"

namespace cellscape::nn {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

thread_local FastPaths current_paths;

bool plain_gradients() { return !current_paths.gradient_layout; }

bool records_gradients(const Tensor& x) { return torch::GradMode::is_enabled() && x.requires_grad(); }

struct KeepLayout : torch::autograd::Function<KeepLayout> {
    static Tensor forward(AutogradContext* context, const Tensor& x, int64_t layout) {
        context->saved_data["layout"] = layout;
        return x.contiguous(static_cast<torch::MemoryFormat>(layout));
    }
    static variable_list backward(AutogradContext* context, variable_list grads) {
        const int64_t layout = context->saved_data["layout"].toInt();
        return {grads[0].defined() ? KeepLayout::apply(grads[0], layout) : Tensor(), Tensor()};
    }
};

// The ReLU's derivative as a function of the incoming gradient alone: the
// mask (`rectified`, the ReLU's output) enters as a constant.
struct RectifiedGradient : torch::autograd::Function<RectifiedGradient> {
    static Tensor forward(AutogradContext* context, const Tensor& grad, const Tensor& rectified) {
        context->save_for_backward({rectified});
        return at::threshold_backward(grad, rectified, 0);
    }
    static variable_list backward(AutogradContext* context, variable_list grads) {
        const Tensor rectified = context->get_saved_variables()[0];
        return {grads[0].defined() ? RectifiedGradient::apply(grads[0], rectified) : Tensor(), Tensor()};
    }
};

struct Rectify : torch::autograd::Function<Rectify> {
    static Tensor forward(AutogradContext* context, const Tensor& x) {
        Tensor rectified = torch::relu(x);
        context->save_for_backward({rectified});
        return rectified;
    }
    static variable_list backward(AutogradContext* context, variable_list grads) {
        return {RectifiedGradient::apply(grads[0], context->get_saved_variables()[0].detach())};
    }
};

struct ConcatenateChannels : torch::autograd::Function<ConcatenateChannels> {
    static Tensor forward(AutogradContext* context, at::TensorList parts);
    static variable_list backward(AutogradContext* context, variable_list grads);
};

// Splits along channels into parts of the given widths, each a dense copy in
// the layout of `whole`.
struct SplitChannels : torch::autograd::Function<SplitChannels> {
    static variable_list forward(AutogradContext* context, const Tensor& whole, std::vector<int64_t> widths) {
        context->saved_data["widths"] = widths;
        context->saved_data["sizes"] = whole.sizes().vec();
        context->saved_data["layout"] = static_cast<int64_t>(whole.suggest_memory_format());
        variable_list parts;
        int64_t start = 0;
        for (int64_t width : widths) {
            parts.push_back(whole.narrow(1, start, width).clone(whole.suggest_memory_format()));
            start += width;
        }
        return parts;
    }
    static variable_list backward(AutogradContext* context, variable_list grads) {
        const auto widths = context->saved_data["widths"].toIntVector();
        auto sizes = context->saved_data["sizes"].toIntVector();
        const auto layout = static_cast<torch::MemoryFormat>(context->saved_data["layout"].toInt());
        const Tensor* any = nullptr;
        for (const Tensor& grad : grads)
            if (grad.defined()) any = &grad;
        if (!any) return {Tensor(), Tensor()};
        variable_list filled;
        for (std::size_t i = 0; i < grads.size(); ++i) {
            sizes[1] = widths[i];
            filled.push_back(grads[i].defined() ? grads[i] : torch::zeros(sizes, any->options().memory_format(layout)));
        }
        return {ConcatenateChannels::apply(filled), Tensor()};
    }
};

Tensor ConcatenateChannels::forward(AutogradContext* context, at::TensorList parts) {
    std::vector<int64_t> widths;
    for (const Tensor& part : parts) widths.push_back(part.size(1));
    context->saved_data["widths"] = widths;
    return torch::cat(parts, 1);
}

variable_list ConcatenateChannels::backward(AutogradContext* context, variable_list grads) {
    return SplitChannels::apply(grads[0], context->saved_data["widths"].toIntVector());
}

}  // namespace

FastPaths fast_paths() { return current_paths; }

FastPathsGuard::FastPathsGuard(FastPaths paths) : previous_(current_paths) { current_paths = paths; }

FastPathsGuard::~FastPathsGuard() { current_paths = previous_; }

Tensor keep_gradient_layout(const Tensor& x) {
    if (plain_gradients() || !records_gradients(x) || x.dim() != 4) return x;
    return KeepLayout::apply(x, static_cast<int64_t>(x.suggest_memory_format()));
}

Tensor rectify(const Tensor& x) {
    if (plain_gradients() || !records_gradients(x)) return torch::relu(x);
    return Rectify::apply(x);
}

Tensor concatenate_channels(at::TensorList parts) {
    const bool any_gradient =
        std::any_of(parts.begin(), parts.end(), [](const Tensor& part) { return records_gradients(part); });
    if (plain_gradients() || !any_gradient) return torch::cat(parts, 1);
    return ConcatenateChannels::apply(parts);
}

}  // namespace cellscape::nn
