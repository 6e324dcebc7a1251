#pragma once
// A study's replicates: every (cell, seed) pair of its config, each in its
// own directory under the study's, and which part of the work one process
// does (study/study.hpp runs them).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/study/study_config.hpp"

namespace cellscape {

// One (cell, seed) pair of a study: trained once with that seed, and
// analysed at every analysis epoch.
struct StudyReplicate {
    NamedGenotype cell;
    std::size_t cell_index = 0;  // in study_cells' order
    uint64_t seed = 0;
    std::string directory;  // relative to the study's: <cell>/seed-<s>, or <cell> without `seeds`
    std::string population;  // the cell spec's (cells/cell_spec.hpp, cell_population)
};

// Which part of a study one process does.
struct StudyPart {
    // Only this replicate (0-based, in study_replicates' order): a Slurm
    // array task. No summary is written.
    std::optional<std::size_t> only_replicate;
    // Only the replicates of this pack (0-based, in study_packs' order): a
    // Slurm array task or a local job of a study with pack > 1. Its
    // members train as one packed network. No summary is written.
    std::optional<std::size_t> only_pack;
    // Compute nothing: summarize what the cells' files hold; a cell whose
    // files are incomplete gets the status "not finished" (the final job of
    // a Slurm study).
    bool collect_only = false;
    // Split surfaces (slurm.surface_shards > 1): the cell's task leaves its
    // surfaces to shard tasks, each of which computes only shard I of every
    // analysis epoch's surface (surface-epoch-NNNN.shard-I-of-N.h5); the
    // collecting job merges them.
    bool skip_surfaces = false;
    std::optional<int64_t> surface_shard;
};

// The cells of a config, resolved and named, in order.
std::vector<NamedGenotype> study_cells(const StudyConfig& config);

// The training seeds of the replicates: the config's seeds, or (none
// given) its training seed.
std::vector<uint64_t> study_seeds(const StudyConfig& config);

// Every (cell, seed) pair, cell by cell, seeds in the config's order.
std::vector<StudyReplicate> study_replicates(const StudyConfig& config);

// The study's units of work: each cell's replicates, in the config's seed
// order, in packs of at most `pack` (a cell with more seeds in several),
// as indices into study_replicates' order; every replicate in one pack,
// the packs in that order. pack = 1: one replicate per pack.
std::vector<std::vector<std::size_t>> study_packs(const StudyConfig& config,
                                                  const std::vector<StudyReplicate>& replicates);

// Whether every output of a replicate (final checkpoint, each analysis) exists.
bool study_replicate_finished(const StudyConfig& config, const std::filesystem::path& out_dir,
                              const StudyReplicate& replicate);

// A directory name for a cell name ("DARTS_V2-random-connections-s1-0").
std::string cell_directory_name(const std::string& cell_name);

}  // namespace cellscape
