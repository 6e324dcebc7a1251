#pragma once
// The enumerated settings of an Objective, torch-free so that configs and
// the command line can name them: which split the evaluation samples come
// from, how they are chosen, BatchNorm's mode and the floating-point type.
#include <array>
#include <string_view>
#include <utility>

#include "cellscape/util/names.hpp"

namespace cellscape {

enum class Split { train, test };
enum class Sampling { random, sequential };  // N samples chosen by the seed, or the first N
enum class BatchNormMode { eval, train };    // running statistics, or each batch's own
enum class Precision { float32, float64 };
// The eigensolver of the Hessian's extreme eigenpairs: cellscape's own
// thick-restart Lanczos (analysis/lanczos.hpp), or Spectra's SymEigsSolver.
enum class EigenSolver { lanczos, spectra };

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

}  // namespace cellscape
