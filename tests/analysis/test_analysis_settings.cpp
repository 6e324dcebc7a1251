// Each analysis's record of what it ran (the "settings" attribute of its
// files; analysis/*_settings.hpp, resolved by resolve_<name>): the study's
// files and the commands' are written by the same function, and a study
// reuses an existing file only when the records compare equal. The
// expected strings are the records a study wrote before the settings moved
// into the analyses (study/replicate_analyses.cpp at 6907412, defaults of
// that version's Study*Settings), so old study directories still resume.
#include <catch2/catch.hpp>

#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/analysis/hessian_report.hpp"
#include "cellscape/analysis/proxies.hpp"
#include "cellscape/analysis/surface.hpp"
#include "cellscape/util/error.hpp"

using namespace cellscape;

namespace {

AnalysisContext context() {
    AnalysisContext context;
    context.seed = 7;
    return context;
}

// The SettingError's setting that resolving `settings` throws, or "" when it resolves.
template <typename Resolve>
std::string refused_setting(Resolve resolve) {
    try {
        resolve();
    } catch (const SettingError& error) {
        return error.setting();
    }
    return "";
}

}  // namespace

TEST_CASE("analysis records of a study's default settings are the records studies wrote before", "[settings]") {
    CHECK(hessian_settings_json(resolve_hessian(HessianSettings{}, context())).dump() ==
          R"({"samples":256,"batch_size":128,"top_k":1,"tol":0.001,"ncv":0,"trace":true,"trace_max_probes":30,)"
          R"("trace_rtol":0.05,"density":false,"slq_steps":30,"slq_runs":3})");
    CHECK(gradient_variance_settings_json(resolve_gradient_variance(GradientVarianceSettings{}, context())).dump() ==
          R"({"batches":10,"batch_size":64})");
    CHECK(surface_settings_json(resolve_surface(SurfaceSettings{}, context())).dump() ==
          R"({"x":"-1:1:11","y":"-1:1:11","eval":["test"],"samples":500,"batch_size":64,"gradient_variance":false})");
    ProxySettings proxies;
    proxies.enabled = true;
    CHECK(proxy_settings_json(resolve_proxies(proxies, context())).dump() ==
          R"({"proxies":["grad_norm","snip","grasp","fisher","synflow","jacob_cov","naswot","zico"],"samples":64,)"
          R"("zico_batches":2})");
}

TEST_CASE("analysis records name a setting off its default after the ones every record has", "[settings]") {
    HessianSettings hessian;
    hessian.bn = BatchNormMode::train;
    hessian.request.top.solver = EigenSolver::spectra;
    hessian.request.parts = PartLevel::cell;
    CHECK(hessian_settings_json(resolve_hessian(hessian, context())).dump() ==
          R"({"samples":256,"batch_size":128,"top_k":1,"tol":0.001,"ncv":0,"trace":true,"trace_max_probes":30,)"
          R"("trace_rtol":0.05,"density":false,"slq_steps":30,"slq_runs":3,"bn":"train","solver":"spectra",)"
          R"("by_part":"cell"})");

    GradientVarianceSettings gradvar;
    gradvar.bn = BatchNormMode::train;
    gradvar.parts = PartLevel::edge;
    CHECK(gradient_variance_settings_json(resolve_gradient_variance(gradvar, context())).dump() ==
          R"({"batches":10,"batch_size":64,"bn":"train","by_part":"edge"})");

    SurfaceSettings surface;
    surface.y = "";
    surface.evaluations = {Split::train, Split::test};
    surface.gradient_variance = true;
    surface.gv_batches = 4;
    CHECK(surface_settings_json(resolve_surface(surface, context())).dump() ==
          R"({"x":"-1:1:11","y":"","eval":["train","test"],"samples":500,"batch_size":64,"gradient_variance":true,)"
          R"("gv_batches":4,"gv_batch_size":64,"gv_split":"train","gv_bn":"eval"})");

    ProxySettings proxies;
    proxies.proxies = {Proxy::synflow};
    proxies.dtype = Precision::float64;
    CHECK(proxy_settings_json(resolve_proxies(proxies, context())).dump() ==
          R"({"proxies":["synflow"],"samples":64,"zico_batches":2,"dtype":"float64"})");
}

TEST_CASE("the hessian command's own settings enter the one record only when set", "[settings]") {
    HessianJob job = resolve_hessian(HessianSettings{}, context());
    const std::string plain = hessian_settings_json(job).dump();
    job.request.bottom.count = 2;
    job.request.top.max_hvps = 50;
    job.request.top.keep_vectors = true;
    job.samples.split = Split::test;
    job.objective.dtype = Precision::float64;
    const nlohmann::ordered_json record = hessian_settings_json(job);
    CHECK(record.at("bottom_k") == 2);
    CHECK(record.at("max_hvps") == 50);
    CHECK(record.at("eigenvectors") == true);
    CHECK(record.at("split") == "test");
    CHECK(record.at("dtype") == "float64");
    CHECK_FALSE(record.contains("min_hvps"));
    CHECK(plain.find("bottom_k") == std::string::npos);
}

TEST_CASE("resolving settings applies the analysis seed and judges each value under its TOML key", "[settings]") {
    const HessianJob hessian = resolve_hessian(HessianSettings{}, context());
    CHECK(hessian.samples.seed == 7);
    CHECK(hessian.samples.samples == 256);
    CHECK(hessian.request.trace_options.seed == 7);
    CHECK(hessian.request.density_options.seed == 7);
    CHECK(hessian.request.trace_options.min_probes == 10);
    HessianSettings few_probes;
    few_probes.request.trace_options.max_probes = 4;  // fewer than the 10 probes a trace needs before it may stop
    CHECK(resolve_hessian(few_probes, context()).request.trace_options.min_probes == 4);
    CHECK(resolve_gradient_variance(GradientVarianceSettings{}, context()).samples.samples == 640);  // 10 x 64

    HessianSettings no_top;
    no_top.request.top.count = 0;
    CHECK(refused_setting([&] { resolve_hessian(no_top, context()); }) == "top_k");
    HessianSettings one_probe;
    one_probe.request.trace_options.max_probes = 1;
    CHECK(refused_setting([&] { resolve_hessian(one_probe, context()); }) == "trace_max_probes");
    GradientVarianceSettings one_batch;
    one_batch.batches = 1;
    CHECK(refused_setting([&] { resolve_gradient_variance(one_batch, context()); }) == "batches");
    SurfaceSettings twice;
    twice.evaluations = {Split::test, Split::test};
    CHECK(refused_setting([&] { resolve_surface(twice, context()); }) == "eval");
    SurfaceSettings no_variance;
    no_variance.gradient_variance = true;
    no_variance.gv_batches = 0;  // not "no variance": a variance of no batches is refused
    CHECK(refused_setting([&] { resolve_surface(no_variance, context()); }) == "gv_batches");
    SurfaceSettings bad_grid;
    bad_grid.x = "1:-1:5";
    CHECK(refused_setting([&] { resolve_surface(bad_grid, context()); }) == "x");
    ProxySettings none;
    none.samples = 0;
    CHECK(refused_setting([&] { resolve_proxies(none, context()); }) == "samples");
}
