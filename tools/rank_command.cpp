#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <optional>

#include "cellscape/data/dataset.hpp"
#include "cellscape/rank/rank_report.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/seed.hpp"
#include "commands.hpp"
#include "objective_options.hpp"
#include "seed_option.hpp"

namespace cellscape::tools {
namespace {

struct RankFlags {
    std::string file;
    std::string genotype, name, format = "auto", header = "auto";
    std::vector<std::string> values;
    bool skip_bad = false;
    nn::NetworkConfig network;
    std::string input_shape;
    bool classes_given = false;
    std::vector<std::string> proxies, seeds{"1"};
    std::string dataset, device = "cpu";
    int64_t samples = 64, zico_batches = 2;
    int jobs = 1;
    std::optional<int> threads;
    RankOptions statistics;
    std::string statistics_seed = "0";
    OutputFile out;
    bool json = false;
};

CellTableOptions table_options(const RankFlags& flags) {
    CellTableOptions options;
    options.genotype_column = flags.genotype;
    options.name_column = flags.name;
    options.format = parse_name<TableFormat>(flags.format, "format");
    options.header = parse_name<HeaderRow>(flags.header, "header");
    options.skip_bad = flags.skip_bad;
    for (const std::string& value : flags.values) {
        const auto equals = value.find('=');
        if (equals == std::string::npos) options.values.emplace_back("", value);
        else options.values.emplace_back(value.substr(0, equals), value.substr(equals + 1));
    }
    return options;
}

std::vector<uint64_t> parse_seeds(const std::vector<std::string>& texts) {
    std::vector<uint64_t> seeds;
    for (const std::string& text : texts) {
        const auto seed = parse_seed(text);
        if (!seed) throw SettingError("seeds", fmt::format("'{}' is not a seed: {}", text, seed_rule()));
        seeds.push_back(*seed);
    }
    return seeds;
}

// Refuses a value column named like a column of the cells table (it would shadow it).
void check_value_names(const CellTable& table, const StructuralFeatures& features) {
    for (const std::string& value : table.value_names)
        for (const auto* names : {&features.metric_names, &features.count_names})
            for (const std::string& name : *names)
                if (value == name || value == "name" || value == "genotype" || value == "cell")
                    throw SettingError("values", fmt::format("'{}' is also a column cellscape computes; name the value "
                                                             "otherwise (NAME=COLUMN)",
                                                             value));
}

std::optional<RankProxyScores> score_proxies(const RankFlags& flags, const std::vector<Genotype>& genotypes,
                                             const std::vector<uint64_t>& seeds, const nn::NetworkConfig& network,
                                             const Dataset* dataset) {
    if (flags.proxies.empty()) return std::nullopt;
    RankProxyOptions options;
    for (const std::string& name : flags.proxies) options.proxies.push_back(parse_name<Proxy>(name, "proxies"));
    options.seeds = seeds;
    options.dataset = flags.dataset;
    options.samples = flags.samples;
    options.zico_batches = flags.zico_batches;
    options.device = flags.device;
    options.jobs = flags.jobs;
    options.rows_file = flags.out.path + ".rows.jsonl";
    options.network = network;
    options.validate();
    InterruptGuard interrupts;
    RankProxyScores scores = rank_proxies(genotypes, options, dataset, progress_sink());
    if (scores.reused > 0 || scores.unreadable_rows > 0)
        progress_sink()->note(fmt::format("{}: {} cell-seeds reused, {} computed{}", options.rows_file.string(),
                                          scores.reused, scores.computed,
                                          scores.unreadable_rows ? fmt::format(", {} unreadable lines skipped (a run "
                                                                               "cut short mid-line)",
                                                                               scores.unreadable_rows)
                                                                 : ""));
    return scores;
}

// The network shape: the proxies' dataset's images and classes unless given.
nn::NetworkConfig network_config(const RankFlags& flags, const Dataset* dataset) {
    nn::NetworkConfig network = flags.network;
    if (!flags.input_shape.empty()) network.input_shape = nn::parse_input_shape(flags.input_shape);
    if (dataset) {
        if (flags.input_shape.empty() && dataset->sample_shape.size() == 3)
            network.input_shape = {dataset->sample_shape[0], dataset->sample_shape[1], dataset->sample_shape[2]};
        if (!flags.classes_given) network.classes = std::max(network.classes, dataset->classes);
    }
    network.validate();
    return network;
}

void run_rank(const RankFlags& flags) {
    RankResult result;
    result.source = flags.file;
    result.options = flags.statistics;
    result.options.association.seed = parse_seeds({flags.statistics_seed}).front();
    result.options.validate();
    if (!flags.proxies.empty() && flags.out.path.empty())
        throw SettingError("out", "is needed with proxies: scoring cells takes minutes, and the file's rows "
                                  "(FILE.rows.jsonl beside it) let an interrupted run continue; give an output file");
    const auto lock = flags.out.claim({{flags.file, "the table"}});
    if (flags.threads) set_threads(*flags.threads);
    else set_threads(flags.jobs > 1 ? 1 : 0);
    result.table = read_cell_table(flags.file, table_options(flags));
    // Loaded once: it shapes the networks and gives the proxies their batches.
    std::optional<Dataset> dataset;
    if (!flags.proxies.empty() && !flags.dataset.empty()) dataset = load_dataset({flags.dataset, 0, 0, 0, true});
    result.network = network_config(flags, dataset ? &*dataset : nullptr);
    std::vector<Genotype> genotypes;
    for (const TableCell& cell : result.table.cells) genotypes.push_back(cell.genotype);
    result.features = structural_features(genotypes, result.network);
    check_value_names(result.table, result.features);
    result.seeds = parse_seeds(flags.seeds);
    result.proxies = score_proxies(flags, genotypes, result.seeds, result.network, dataset ? &*dataset : nullptr);
    if (!result.proxies) result.seeds.clear();
    const std::vector<RankMetric> metrics = rank_metrics(result.features, result.proxies);
    const std::vector<RankValue> values = rank_values(result.table);
    result.associations =
        rank_associations(metrics, values, result.features.operation_content(), result.options, progress_sink());
    result.groups = rank_groups(metrics, values, rank_groupings);
    if (!flags.out.path.empty()) write_rank_file(flags.out.path, result, command_line());
    if (flags.json) {
        auto json = rank_json(result);
        if (!flags.out.path.empty()) json["out"] = flags.out.path;
        std::cout << json.dump(2) << "\n";
    } else {
        std::cout << format_rank_report(result);
        if (!flags.out.path.empty()) std::cout << "\nwritten: " << flags.out.path << "\n";
    }
}

}  // namespace

void add_rank_command(CLI::App& app) {
    auto flags = std::make_shared<RankFlags>();
    auto* command = app.add_subcommand(
        "rank", "Rank a table of cells (genotypes with accuracies): width, depth, size and zero-cost proxies against "
                "each value column, with intervals and tests");
    command->footer("FILE is CSV (with or without a header) or JSON lines. See docs/rank.md.");
    command->add_option("FILE", flags->file, "The table of cells")->required();
    command->add_option("--genotype", flags->genotype,
                        "The genotype's column: a header name or a position from 1 (default: 'genotype' or 'arch')");
    command->add_option("--value", flags->values,
                        "[NAME=]COLUMN to rank against; repeat for several (default: every numeric column)");
    command->add_option("--name", flags->name, "A column naming each cell (default: 'name' if present)");
    command->add_option("--format", flags->format, "auto, csv or jsonl")->check(one_of<TableFormat>())->capture_default_str();
    command->add_option("--header", flags->header, "Whether a CSV's first row is a header: auto, yes or no")
        ->check(one_of<HeaderRow>())
        ->capture_default_str();
    command->add_flag("--skip-bad", flags->skip_bad, "Skip rows without a cell (each is reported) instead of stopping");
    command->add_option("--init-channels", flags->network.init_channels, "The networks' initial channels C")
        ->capture_default_str();
    command->add_option("--layers", flags->network.layers, "The networks' cells")->capture_default_str();
    command->add_option("--classes", flags->network.classes, "Classes (default 10, or the dataset's)")
        ->each([flags](const std::string&) { flags->classes_given = true; });
    command->add_option("--input-shape", flags->input_shape,
                        "CHANNELSxHEIGHTxWIDTH (default 3x32x32, or the dataset's images)");
    auto* proxies = command->add_option("--proxies", flags->proxies, "Zero-cost proxies of each cell's initial network")
                        ->check(one_of<Proxy>())
                        ->delimiter(',');
    command->add_option("--dataset", flags->dataset, "The proxies' data (fashion-mnist, cifar10:DIR, h5:FILE, ...)");
    command->add_option("--samples", flags->samples, "The proxies' batch")->capture_default_str();
    command->add_option("--zico-batches", flags->zico_batches, "ZiCo: the batch in this many equal parts")
        ->capture_default_str();
    command->add_option("--seeds", flags->seeds, "Seeds of the initial networks (and batches); several give intervals")
        ->delimiter(',')
        ->check(seed_rule_check())
        ->capture_default_str();
    command->add_option("--device", flags->device, "cpu, cuda or cuda:N")->capture_default_str();
    command->add_option("--jobs", flags->jobs, "Cells scored side by side")->capture_default_str();
    command->add_option("--threads", flags->threads, "LibTorch threads (default: all cores, 1 per job with --jobs)");
    command->add_option("--bootstrap", flags->statistics.association.bootstrap_samples, "Bootstrap resamples")
        ->capture_default_str();
    command->add_option("--permutations", flags->statistics.association.permutations, "Permutations per test")
        ->capture_default_str();
    command->add_option("--top", flags->statistics.top_fraction, "The best share whose overlap is reported")
        ->capture_default_str();
    command->add_option("--statistics-seed", flags->statistics_seed, "Seed of the bootstrap and permutations")
        ->check(seed_rule_check())
        ->capture_default_str();
    // These set how proxies are scored: without proxies they would do nothing, so they are refused.
    for (const char* name : {"--dataset", "--samples", "--zico-batches", "--seeds", "--device", "--jobs"})
        command->get_option(name)->needs(proxies);
    flags->out.add_to(*command, "Write the cells, associations and groups to this HDF5 file (cellscape-rank)");
    command->add_flag("--json", flags->json, "Print JSON instead of tables");
    command->callback([flags] { run_rank(*flags); });
}

}  // namespace cellscape::tools
