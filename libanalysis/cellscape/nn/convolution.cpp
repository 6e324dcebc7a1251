#include "cellscape/nn/convolution.hpp"

#include <algorithm>
#include <variant>

#include "cellscape/nn/detail/fast_paths.hpp"

namespace cellscape::nn {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void save_geometry(AutogradContext* context, const ConvolutionGeometry& geometry) {
    auto to_list = [](const std::array<int64_t, 2>& pair) { return std::vector<int64_t>(pair.begin(), pair.end()); };
    context->saved_data["stride"] = to_list(geometry.stride);
    context->saved_data["padding"] = to_list(geometry.padding);
    context->saved_data["dilation"] = to_list(geometry.dilation);
    context->saved_data["groups"] = geometry.groups;
}

ConvolutionGeometry load_geometry(AutogradContext* context) {
    auto to_pair = [&](const char* key) {
        const std::vector<int64_t> list = context->saved_data[key].toIntVector();
        return std::array<int64_t, 2>{list.at(0), list.at(1)};
    };
    return {to_pair("stride"), to_pair("padding"), to_pair("dilation"), context->saved_data["groups"].toInt()};
}

bool unit_stride(const ConvolutionGeometry& g) { return g.stride[0] == 1 && g.stride[1] == 1; }

Tensor forward_convolution(const Tensor& input, const Tensor& weight, const ConvolutionGeometry& g,
                           const Tensor& bias = {}) {
    return at::convolution(input, weight, bias, g.stride, g.padding, g.dilation, false, {0, 0}, g.groups);
}

Tensor backward_kernel(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                       const ConvolutionGeometry& g, bool want_input) {
    const auto result = at::convolution_backward(grad_output, input, weight, c10::nullopt, g.stride, g.padding,
                                                 g.dilation, false, {0, 0}, g.groups, {want_input, !want_input, false});
    return want_input ? std::get<0>(result) : std::get<1>(result);
}

// d<grad_output, conv(x, weight)>/dx, with `input_like` giving x's shape and layout.
Tensor compute_input_gradient(const Tensor& grad_output, const Tensor& weight, const Tensor& input_like,
                              const ConvolutionGeometry& g) {
    const std::array<int64_t, 2> padding{g.dilation[0] * (weight.size(2) - 1) - g.padding[0],
                                         g.dilation[1] * (weight.size(3) - 1) - g.padding[1]};
    // At stride 1 the input gradient is the convolution with the flipped,
    // group-wise transposed kernel, which oneDNN runs 1.5-8x faster than its
    // backward-data kernel (most for dilated depthwise kernels).
    if (!unit_stride(g) || padding[0] < 0 || padding[1] < 0)
        return backward_kernel(grad_output, input_like, weight, g, true);
    const int64_t out = weight.size(0), in_per_group = weight.size(1), kh = weight.size(2), kw = weight.size(3);
    const Tensor transposed = weight.reshape({g.groups, out / g.groups, in_per_group, kh, kw})
                                  .transpose(1, 2)
                                  .reshape({g.groups * in_per_group, out / g.groups, kh, kw})
                                  .flip({2, 3});
    return forward_convolution(grad_output, transposed, {{1, 1}, padding, g.dilation, g.groups});
}

// d<grad_output, conv(x, w)>/dw, with `weight_like` giving w's shape.
Tensor compute_weight_gradient(const Tensor& grad_output, const Tensor& input, const Tensor& weight_like,
                               const ConvolutionGeometry& g) {
    const int64_t dh = g.dilation[0], dw = g.dilation[1];
    if (!unit_stride(g) || (dh == 1 && dw == 1)) return backward_kernel(grad_output, input, weight_like, g, false);
    // oneDNN's weight gradient of a dilated depthwise convolution is 4-8x
    // slower than an undilated one. Tap (i, j) pairs output (h, w) with padded
    // input (h + i*dh, w + j*dw), which shares the output's phase
    // (h mod dh, w mod dw); so the sum splits into dh*dw undilated
    // convolutions of the phase-subsampled maps.
    using torch::indexing::None;
    using torch::indexing::Slice;
    const auto layout = input.suggest_memory_format();
    const Tensor padded = at::constant_pad_nd(input, {g.padding[1], g.padding[1], g.padding[0], g.padding[0]});
    const ConvolutionGeometry undilated{{1, 1}, {0, 0}, {1, 1}, g.groups};
    Tensor sum;
    for (int64_t a = 0; a < std::min(dh, grad_output.size(2)); ++a)
        for (int64_t b = 0; b < std::min(dw, grad_output.size(3)); ++b) {
            const auto phase = [&](const Tensor& t) {
                return t.index({Slice(), Slice(), Slice(a, None, dh), Slice(b, None, dw)}).contiguous(layout);
            };
            const Tensor part = backward_kernel(phase(grad_output), phase(padded), weight_like, undilated, false);
            sum = sum.defined() ? sum.add_(part) : part;
        }
    return sum;
}

Tensor in_layout_of(const Tensor& grad_output, const Tensor& reference) {
    // oneDNN's backward kernels are up to 10x slower when the gradient's
    // layout differs from the input's.
    return grad_output.contiguous(reference.suggest_memory_format());
}

enum class Operand { input, weight };

Tensor differentiable_convolution(const Tensor& input, const Tensor& weight, const ConvolutionGeometry& geometry);

// The gradient of <grad_output, conv(x, w)> with respect to x (Of::input) or
// w (Of::weight), as a function of grad_output and the other operand; `like`
// gives the result's shape and layout.
template <Operand of>
struct ConvolutionGradient : torch::autograd::Function<ConvolutionGradient<of>> {
    static constexpr Operand other_operand = of == Operand::input ? Operand::weight : Operand::input;

    static Tensor forward(AutogradContext* context, const Tensor& grad_output, const Tensor& other, const Tensor& like,
                          ConvolutionGeometry geometry) {
        context->save_for_backward({grad_output, other});
        save_geometry(context, geometry);
        if constexpr (of == Operand::input)
            return compute_input_gradient(in_layout_of(grad_output, like), other, like, geometry);
        else
            return compute_weight_gradient(in_layout_of(grad_output, other), other, like, geometry);
    }

    // Both gradients are bilinear: <b, G_input(g, w)> = <conv(b, w), g>, so
    // its derivative is conv(b, w) in g and G_weight(g, b) in w; likewise
    // <b, G_weight(g, x)> = <conv(x, b), g>.
    static variable_list backward(AutogradContext* context, variable_list grads) {
        const auto saved = context->get_saved_variables();
        const Tensor &grad_output = saved[0], &other = saved[1], &b = grads[0];
        const ConvolutionGeometry geometry = load_geometry(context);
        Tensor for_grad_output, for_other;
        if (context->needs_input_grad(0))
            for_grad_output = of == Operand::input ? differentiable_convolution(b, other, geometry)
                                                   : differentiable_convolution(other, b, geometry);
        if (context->needs_input_grad(1))
            for_other = ConvolutionGradient<other_operand>::apply(grad_output, b, other.detach(), geometry);
        return {for_grad_output, for_other, Tensor(), Tensor()};
    }
};

struct Convolution : torch::autograd::Function<Convolution> {
    static Tensor forward(AutogradContext* context, const Tensor& input, const Tensor& weight,
                          ConvolutionGeometry geometry) {
        context->save_for_backward({input, weight});
        save_geometry(context, geometry);
        return forward_convolution(input, weight, geometry);
    }
    static variable_list backward(AutogradContext* context, variable_list grads) {
        const auto saved = context->get_saved_variables();
        const Tensor &input = saved[0], &weight = saved[1];
        const ConvolutionGeometry geometry = load_geometry(context);
        Tensor grad_input, grad_weight;
        if (context->needs_input_grad(0))
            grad_input = ConvolutionGradient<Operand::input>::apply(grads[0], weight, input.detach(), geometry);
        if (context->needs_input_grad(1))
            grad_weight = ConvolutionGradient<Operand::weight>::apply(grads[0], input, weight.detach(), geometry);
        return {grad_input, grad_weight, Tensor()};
    }
};

Tensor differentiable_convolution(const Tensor& input, const Tensor& weight, const ConvolutionGeometry& geometry) {
    return Convolution::apply(input, weight, geometry);
}

}  // namespace

Tensor convolution(const Tensor& input, const Tensor& weight, const ConvolutionGeometry& geometry, const Tensor& bias) {
    const bool needs_gradient = input.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad());
    if (!torch::GradMode::is_enabled() || !needs_gradient) return forward_convolution(input, weight, geometry, bias);
    const Tensor output = Convolution::apply(input, weight, geometry);
    return bias.defined() ? output + bias.view({1, -1, 1, 1}) : output;
}

ConvolutionGeometry geometry_of(const torch::nn::Conv2dImpl& conv) {
    const auto& options = conv.options;
    TORCH_CHECK(std::holds_alternative<torch::ExpandingArray<2>>(options.padding()),
                "cellscape convolutions need explicit padding");
    TORCH_CHECK(std::holds_alternative<torch::enumtype::kZeros>(options.padding_mode()),
                "cellscape convolutions need zero padding");
    const auto pair = [](const torch::ExpandingArray<2>& a) { return std::array<int64_t, 2>{(*a)[0], (*a)[1]}; };
    return {pair(options.stride()), pair(std::get<torch::ExpandingArray<2>>(options.padding())),
            pair(options.dilation()), options.groups()};
}

Tensor convolve(const torch::nn::Conv2dImpl& conv, const Tensor& input) {
    if (!fast_paths().convolution_derivatives) return const_cast<torch::nn::Conv2dImpl&>(conv).forward(input);
    return convolution(input, conv.weight, geometry_of(conv), conv.bias);
}

}  // namespace cellscape::nn
