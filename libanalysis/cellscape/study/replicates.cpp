// The study's replicates: its cells and seeds, their directories, and
// whether each has every output (study/replicates.hpp).
#include "cellscape/study/detail/replicates.hpp"

#include "cellscape/study/detail/replicate_files.hpp"

#include <fmt/format.h>

#include <cctype>
#include <utility>

#include "cellscape/cells/cell_spec.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape::study_detail {

// The cells of a config with their populations, in order.
std::vector<std::pair<NamedGenotype, std::string>> cells_with_populations(const StudyConfig& config) {
    std::vector<std::pair<NamedGenotype, std::string>> cells;
    for (const auto& spec : config.cells) {
        const std::string population = cell_population(spec);
        for (auto& cell : resolve_cells(spec)) cells.emplace_back(std::move(cell), population);
    }
    for (std::size_t i = 0; i < cells.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (cell_directory_name(cells[i].first.name) == cell_directory_name(cells[j].first.name))
                throw Error(fmt::format("two cells of the study are both named {}: give each a distinct name "
                                        "(NAME = Genotype(...))",
                                        cells[i].first.name));
    return cells;
}

// A spec that relied on the variants' former default (both cells rewired)
// must not silently give other cells where its old results lie.
void refuse_former_default_cells(const StudyConfig& config, const std::filesystem::path& out_dir) {
    for (const auto& spec : config.cells) {
        const auto former = former_default_spec(spec);
        if (!former) continue;
        for (const NamedGenotype& cell : resolve_cells(*former)) {
            const auto directory = out_dir / cell_directory_name(cell.name);
            if (!std::filesystem::is_directory(directory)) continue;
            throw Error(fmt::format(
                "{}: {} holds cells that '{}' gave before cellscape 0.2, when variants rewired both the normal and "
                "the reduction cell; it now rewires the normal cell only (cells=normal). Write '{}' in cells = [...] "
                "to keep those results, or 'cells=normal' in the spec to train the new cells beside them",
                config.source.string(), directory.string(), spec, *former));
        }
    }
}

}  // namespace cellscape::study_detail

namespace cellscape {

using study_detail::cells_with_populations;
using study_detail::missing_outputs;

std::string cell_directory_name(const std::string& cell_name) {
    std::string name = cell_name;
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') c = '-';
    return name.empty() || name.front() == '.' ? "cell" + name : name;
}

bool study_replicate_finished(const StudyConfig& config, const std::filesystem::path& out_dir,
                              const StudyReplicate& replicate) {
    return missing_outputs(config, out_dir / replicate.directory).empty();
}

std::vector<NamedGenotype> study_cells(const StudyConfig& config) {
    std::vector<NamedGenotype> cells;
    for (auto& [cell, population] : cells_with_populations(config)) cells.push_back(std::move(cell));
    return cells;
}

std::vector<uint64_t> study_seeds(const StudyConfig& config) {
    return config.seeds.empty() ? std::vector<uint64_t>{config.training.seed} : config.seeds;
}

std::vector<StudyReplicate> study_replicates(const StudyConfig& config) {
    std::vector<StudyReplicate> replicates;
    const auto cells = cells_with_populations(config);
    for (std::size_t c = 0; c < cells.size(); ++c)
        for (const uint64_t seed : study_seeds(config)) {
            std::string directory = cell_directory_name(cells[c].first.name);
            if (config.replicated()) directory += fmt::format("/seed-{}", seed);
            replicates.push_back({cells[c].first, c, seed, directory, cells[c].second});
        }
    return replicates;
}

std::vector<std::vector<std::size_t>> study_packs(const StudyConfig& config,
                                                  const std::vector<StudyReplicate>& replicates) {
    std::vector<std::vector<std::size_t>> packs;
    for (std::size_t i = 0; i < replicates.size(); ++i) {
        const bool joins = !packs.empty() && replicates[packs.back().front()].cell_index == replicates[i].cell_index &&
                           static_cast<int64_t>(packs.back().size()) < config.pack;
        if (!joins) packs.emplace_back();
        packs.back().push_back(i);
    }
    return packs;
}

}  // namespace cellscape
