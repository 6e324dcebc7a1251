#pragma once
// The enumerated settings of an Objective and of the analyses, torch-free so
// that configs and the command line can name them: which split the
// evaluation samples come from, how they are chosen, BatchNorm's mode, the
// floating-point type, the eigensolver and the zero-cost proxies.
#include <array>
#include <string_view>
#include <utility>
#include <vector>

#include "cellscape/util/names.hpp"

namespace cellscape {

enum class Split { train, test };
enum class Sampling { random, sequential };  // N samples chosen by the seed, or the first N
enum class BatchNormMode { eval, train };    // running statistics, or each batch's own
enum class Precision { float32, float64 };
// The eigensolver of the Hessian's extreme eigenpairs: cellscape's own
// thick-restart Lanczos (analysis/lanczos.hpp), or Spectra's SymEigsSolver.
enum class EigenSolver { lanczos, spectra };
// The zero-cost proxies (analysis/proxies.hpp defines each).
enum class Proxy { grad_norm, snip, grasp, fisher, synflow, jacob_cov, naswot, zico };

template <>
struct EnumNames<Split> {
    static constexpr std::array<std::pair<std::string_view, Split>, 2> values{
        {{"train", Split::train}, {"test", Split::test}}};
};
template <>
struct EnumNames<Sampling> {
    static constexpr std::array<std::pair<std::string_view, Sampling>, 2> values{
        {{"random", Sampling::random}, {"sequential", Sampling::sequential}}};
};
template <>
struct EnumNames<BatchNormMode> {
    static constexpr std::array<std::pair<std::string_view, BatchNormMode>, 2> values{
        {{"eval", BatchNormMode::eval}, {"train", BatchNormMode::train}}};
};
template <>
struct EnumNames<EigenSolver> {
    static constexpr std::array<std::pair<std::string_view, EigenSolver>, 2> values{
        {{"lanczos", EigenSolver::lanczos}, {"spectra", EigenSolver::spectra}}};
};
template <>
struct EnumNames<Precision> {
    static constexpr std::array<std::pair<std::string_view, Precision>, 2> values{
        {{"float32", Precision::float32}, {"float64", Precision::float64}}};
};

template <>
struct EnumNames<Proxy> {
    static constexpr std::array<std::pair<std::string_view, Proxy>, 8> values{{{"grad_norm", Proxy::grad_norm},
                                                                               {"snip", Proxy::snip},
                                                                               {"grasp", Proxy::grasp},
                                                                               {"fisher", Proxy::fisher},
                                                                               {"synflow", Proxy::synflow},
                                                                               {"jacob_cov", Proxy::jacob_cov},
                                                                               {"naswot", Proxy::naswot},
                                                                               {"zico", Proxy::zico}}};
};

// Every proxy, in EnumNames' order: the default of the command and of a study.
inline std::vector<Proxy> all_proxies() {
    std::vector<Proxy> proxies;
    for (const auto& [name, proxy] : EnumNames<Proxy>::values) proxies.push_back(proxy);
    return proxies;
}

}  // namespace cellscape
