// Uses each library cellscape builds on, except LibTorch, once: built and run
// against the folder scripts/gpu-bundle.sh carries to a GPU machine (see
// tests/cli/test_gpu_check.py), it shows that folder holds every header,
// CMake package and shared library the build needs. Prints one line per
// library and exits non-zero when one gives a wrong answer.
#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <H5Cpp.h>
#include <Spectra/MatOp/DenseSymMatProd.h>
#include <Spectra/SymEigsSolver.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml.hpp>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace {

int failures = 0;

void report(const char* library, bool ok, const std::string& detail) {
    std::printf("%s %-14s %s\n", ok ? "ok  " : "FAIL", library, detail.c_str());
    if (!ok) ++failures;
}

void probe_eigen_and_spectra() {
    // diag(1..10): the top eigenvalue is 10.
    Eigen::MatrixXd matrix = Eigen::VectorXd::LinSpaced(10, 1, 10).asDiagonal();
    Spectra::DenseSymMatProd<double> op(matrix);
    Spectra::SymEigsSolver<Spectra::DenseSymMatProd<double>> solver(op, 1, 6);
    solver.init();
    solver.compute(Spectra::SortRule::LargestAlge);
    const double top = solver.eigenvalues()[0];
    report("Eigen+Spectra", std::abs(top - 10) < 1e-10, fmt::format("top eigenvalue of diag(1..10) = {}", top));
}

void probe_hdf5() {
    const auto path = std::filesystem::temp_directory_path() / fmt::format("dependency-probe-{}.h5", ::getpid());
    const std::vector<double> written{1.5, 2.5, 3.5};
    std::vector<double> read(3);
    {
        H5::H5File file(path.string(), H5F_ACC_TRUNC);
        const hsize_t size = written.size();
        H5::DataSpace space(1, &size);
        file.createDataSet("x", H5::PredType::NATIVE_DOUBLE, space).write(written.data(), H5::PredType::NATIVE_DOUBLE);
    }
    {
        H5::H5File file(path.string(), H5F_ACC_RDONLY);
        file.openDataSet("x").read(read.data(), H5::PredType::NATIVE_DOUBLE);
    }
    std::filesystem::remove(path);
    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);
    report("HDF5", read == written, fmt::format("version {}.{}.{}, wrote and read 3 values", major, minor, release));
}

void probe_zlib() {
    const std::string text(1000, 'c');
    std::vector<Bytef> packed(compressBound(text.size()));
    uLongf packed_size = packed.size();
    compress(packed.data(), &packed_size, reinterpret_cast<const Bytef*>(text.data()), text.size());
    std::string unpacked(text.size(), '\0');
    uLongf unpacked_size = unpacked.size();
    uncompress(reinterpret_cast<Bytef*>(unpacked.data()), &unpacked_size, packed.data(), packed_size);
    report("zlib", unpacked == text, fmt::format("version {}, 1000 bytes in {}", zlibVersion(), packed_size));
}

void probe_text_libraries() {
    const auto json = nlohmann::json::parse(R"({"k": [1, 2, 3]})");
    report("nlohmann-json", json["k"][2] == 3, "parsed an object");
    std::istringstream text("[analysis]\nlevel = 2.5\n");
    const auto toml_value = toml::parse(text, "probe.toml");
    report("toml11", toml::find<double>(toml_value, "analysis", "level") == 2.5, "parsed a table");
    CLI::App app("probe");
    int count = 0;
    app.add_option("--count", count);
    const char* argv[] = {"probe", "--count", "7"};
    app.parse(3, argv);
    report("CLI11", count == 7, "parsed --count 7");
    report("fmt", fmt::format("{:.2f}", 3.14159) == "3.14", fmt::format("version {}", FMT_VERSION));
}

}  // namespace

int main() {
    probe_eigen_and_spectra();
    probe_hdf5();
    probe_zlib();
    probe_text_libraries();
    return failures == 0 ? 0 : 1;
}
