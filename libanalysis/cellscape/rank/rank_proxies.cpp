#include "cellscape/rank/rank_proxies.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "cellscape/analysis/model.hpp"
#include "cellscape/analysis/proxies.hpp"
#include "cellscape/data/dataset.hpp"
#include "cellscape/nn/network.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"

namespace cellscape {

void RankProxyOptions::validate() const {
    if (proxies.empty()) throw SettingError("proxies", "names no proxy; give one or more");
    if (seeds.empty()) throw SettingError("seeds", "names no seed; give one or more");
    for (std::size_t a = 0; a < seeds.size(); ++a)
        for (std::size_t b = a + 1; b < seeds.size(); ++b)
            if (seeds[a] == seeds[b])
                throw SettingError("seeds", fmt::format("names seed {} twice; each seed once", seeds[a]));
    if (jobs < 1) throw SettingError("jobs", fmt::format("is {}; give 1 or more", jobs));
    network.validate();
    if (dataset.empty()) {
        for (Proxy proxy : proxies)
            if (proxy != Proxy::synflow)
                throw SettingError("dataset", fmt::format("is not given, but {} scores a network on a batch of data "
                                                          "(only synflow is data-free); give a dataset",
                                                          name_of(proxy)));
    } else {
        ProxyOptions check;
        check.proxies = proxies;
        check.zico_batches = zico_batches;
        check.validate(samples);
    }
}

std::string RankProxyOptions::settings_key() const {
    nlohmann::ordered_json key;
    std::vector<std::string> names;
    for (Proxy proxy : proxies) names.emplace_back(name_of(proxy));
    std::sort(names.begin(), names.end());
    key["proxies"] = names;
    key["network"] = network.to_json();
    key["dataset"] = dataset;
    key["samples"] = dataset.empty() ? 0 : samples;
    key["zico_batches"] = zico_batches;
    key["device"] = device;
    return key.dump();
}

namespace {

// One (cell, seed) task's result, as a row of the rows file.
struct ProxyRow {
    std::size_t cell = 0, seed = 0;  // indices
    std::map<Proxy, double> scores;
    std::map<Proxy, std::string> refused;
};

nlohmann::json row_json(const ProxyRow& row, const std::string& genotype, uint64_t seed, const std::string& key) {
    nlohmann::json scores = nlohmann::json::object(), refused = nlohmann::json::object();
    for (const auto& [proxy, score] : row.scores) scores[std::string(name_of(proxy))] = score;
    for (const auto& [proxy, reason] : row.refused) refused[std::string(name_of(proxy))] = reason;
    return {{"settings", key}, {"genotype", genotype}, {"seed", seed}, {"scores", scores}, {"refused", refused}};
}

// The rows of the rows file made with these settings, by (genotype, seed).
std::map<std::pair<std::string, uint64_t>, ProxyRow> kept_rows(const RankProxyOptions& options, int64_t& unreadable) {
    std::map<std::pair<std::string, uint64_t>, ProxyRow> rows;
    if (options.rows_file.empty() || !std::filesystem::exists(options.rows_file)) return rows;
    std::ifstream in(options.rows_file);
    const std::string key = options.settings_key();
    std::string line;
    while (std::getline(in, line)) {
        nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
        if (json.is_discarded() || !json.is_object() || !json.contains("settings") || !json.contains("scores")) {
            ++unreadable;
            continue;
        }
        if (json["settings"] != key) continue;
        ProxyRow row;
        try {
            for (const auto& [name, score] : json["scores"].items())
                row.scores[parse_name<Proxy>(name, "proxies")] = score.get<double>();
            for (const auto& [name, reason] : json["refused"].items())
                row.refused[parse_name<Proxy>(name, "proxies")] = reason.get<std::string>();
            rows[{json["genotype"].get<std::string>(), json["seed"].get<uint64_t>()}] = std::move(row);
        } catch (const std::exception&) {  // a row edited by hand: computed again
            ++unreadable;
        }
    }
    return rows;
}

// The samples every cell is scored on for one seed.
LabelledImages seed_batch(const Dataset* dataset, const RankProxyOptions& options, uint64_t seed) {
    if (!dataset) {
        const auto& shape = options.network.input_shape;
        return {torch::zeros({2, shape[0], shape[1], shape[2]}), torch::zeros({2}, torch::kInt64)};
    }
    const torch::Tensor indices = choose_subset(dataset->train.size(), options.samples, seed, "seeds");
    return {dataset->train.images.index_select(0, indices), dataset->train.labels.index_select(0, indices)};
}

void check_dataset_fits(const Dataset& dataset, const nn::NetworkConfig& network) {
    const std::vector<int64_t> shape(network.input_shape.begin(), network.input_shape.end());
    if (dataset.sample_shape != shape)
        throw SettingError("input_shape", fmt::format("is {}x{}x{}, but {} holds images of {}: build the networks for "
                                                      "the dataset's images",
                                                      shape[0], shape[1], shape[2], dataset.spec,
                                                      fmt::join(dataset.sample_shape, "x")));
    if (dataset.classes > network.classes)
        throw SettingError("classes", fmt::format("is {}, but {} has {} classes", network.classes, dataset.spec,
                                                  dataset.classes));
}

// Scores the tasks on `jobs` threads; each finished row goes to `finish`.
class ProxyWorkers {
public:
    ProxyWorkers(const std::vector<Genotype>& genotypes, const RankProxyOptions& options,
                 const std::vector<LabelledImages>& batches)
        : genotypes_(genotypes), options_(options), batches_(batches) {
        settings_.proxies = options.proxies;
        settings_.zico_batches = options.zico_batches;
        settings_.device = parse_device(options.device);
    }

    void run(const std::vector<std::pair<std::size_t, std::size_t>>& tasks,
             const std::function<void(const ProxyRow&)>& finish) {
        std::atomic<std::size_t> next{0};
        std::atomic<bool> stop{false};
        std::exception_ptr failure;
        std::mutex failure_mutex;
        auto work = [&] {
            try {
                for (std::size_t t = next++; t < tasks.size() && !stop; t = next++) {
                    if (InterruptGuard::requested())
                        throw Interrupted(InterruptGuard::signal_number(), "interrupted: the cells scored so far are kept");
                    finish(score(tasks[t].first, tasks[t].second));
                }
            } catch (...) {
                const std::lock_guard<std::mutex> lock(failure_mutex);
                if (!failure) failure = std::current_exception();
                stop = true;
            }
        };
        std::vector<std::thread> threads;
        const auto count = std::min<std::size_t>(static_cast<std::size_t>(options_.jobs), tasks.size());
        for (std::size_t j = 1; j < count; ++j) threads.emplace_back(work);
        work();
        for (std::thread& thread : threads) thread.join();
        if (failure) std::rethrow_exception(failure);
    }

private:
    ProxyRow score(std::size_t cell, std::size_t seed) {
        std::unique_ptr<Model> model;
        {
            // Building a network draws its initial weights from LibTorch's
            // global generator: one build at a time, seeded as `cellscape
            // train` seeds it (seeded_network gives the caller's state back).
            const std::lock_guard<std::mutex> lock(build_mutex_);
            model = darts_model(seeded_network(genotypes_[cell], options_.network, options_.seeds[seed]));
        }
        ProxyRow row{cell, seed, {}, {}};
        try {
            const ProxyScores scores = zero_cost_proxies(*model, batches_[seed], settings_);
            for (const auto& [proxy, value] : scores.scores) row.scores[proxy] = value;
            for (const auto& [proxy, reason] : scores.refused) row.refused[proxy] = reason;
        } catch (const Interrupted&) {
            throw;
        } catch (const Error& error) {
            throw Error(fmt::format("cell {} ({}), seed {}: {}", cell + 1, format_genotype(genotypes_[cell]),
                                    options_.seeds[seed], error.what()));
        }
        return row;
    }

    const std::vector<Genotype>& genotypes_;
    const RankProxyOptions& options_;
    const std::vector<LabelledImages>& batches_;
    ProxyOptions settings_;
    std::mutex build_mutex_;
};

void add_row(RankProxyScores& result, const ProxyRow& row) {
    for (std::size_t p = 0; p < result.proxies.size(); ++p) {
        const Proxy proxy = result.proxies[p];
        if (const auto found = row.scores.find(proxy); found != row.scores.end())
            result.scores[p][row.cell][row.seed] = found->second;
        if (const auto found = row.refused.find(proxy); found != row.refused.end()) {
            if (result.refused[p]++ == 0) result.first_refusal[p] = found->second;
        }
    }
}

}  // namespace

RankProxyScores rank_proxies(const std::vector<Genotype>& genotypes, const RankProxyOptions& options,
                             const Dataset* dataset, ProgressSink* progress) {
    options.validate();
    if (options.dataset.empty() != (dataset == nullptr))
        throw Error("internal: rank_proxies needs the dataset its options name, and only that");
    if (dataset) check_dataset_fits(*dataset, options.network);
    RankProxyScores result;
    result.proxies = options.proxies;
    result.scores.assign(options.proxies.size(),
                         std::vector<std::vector<double>>(genotypes.size(), std::vector<double>(options.seeds.size(), NAN)));
    result.refused.assign(options.proxies.size(), 0);
    result.first_refusal.assign(options.proxies.size(), "");

    const std::string key = options.settings_key();
    const auto kept = kept_rows(options, result.unreadable_rows);
    std::vector<std::string> texts;
    for (const Genotype& genotype : genotypes) texts.push_back(format_genotype(genotype));
    std::vector<std::pair<std::size_t, std::size_t>> tasks;
    for (std::size_t c = 0; c < genotypes.size(); ++c)
        for (std::size_t s = 0; s < options.seeds.size(); ++s) {
            const auto found = kept.find({texts[c], options.seeds[s]});
            if (found == kept.end()) {
                tasks.emplace_back(c, s);
                continue;
            }
            ProxyRow row = found->second;
            row.cell = c;
            row.seed = s;
            add_row(result, row);
            ++result.reused;
        }
    if (tasks.empty()) return result;

    std::vector<LabelledImages> batches;
    for (uint64_t seed : options.seeds) batches.push_back(seed_batch(dataset, options, seed));

    std::ofstream rows;
    if (!options.rows_file.empty()) {
        rows.open(options.rows_file, std::ios::app);
        if (!rows) throw Error(fmt::format("{}: cannot be written (it keeps the scored cells)", options.rows_file.string()));
    }
    const ProgressTask task(progress, "proxies", static_cast<int64_t>(tasks.size()), "cells x seeds");
    std::mutex finish_mutex;
    const auto start = std::chrono::steady_clock::now();
    ProxyWorkers workers(genotypes, options, batches);
    workers.run(tasks, [&](const ProxyRow& row) {
        const std::lock_guard<std::mutex> lock(finish_mutex);
        if (rows.is_open()) {
            // One line per row, flushed: a kill leaves at most one line cut short, which a rerun skips.
            rows << row_json(row, texts[row.cell], options.seeds[row.seed], key).dump() << '\n' << std::flush;
            if (!rows) throw Error(fmt::format("{}: writing a row failed (disk full?)", options.rows_file.string()));
        }
        add_row(result, row);
        ++result.computed;
        task.update(result.computed, fmt::format("cell {} seed {}", row.cell + 1, options.seeds[row.seed]));
    });
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace cellscape
