#pragma once
// The study's replicates, internals (not installed; study/replicates.cpp).
#include <filesystem>

#include "cellscape/study/replicates.hpp"

namespace cellscape::study_detail {

// Error when a spec relied on the variants' former default (both cells
// rewired) and its old cells lie in `out_dir`, naming the spec that keeps them.
void refuse_former_default_cells(const StudyConfig& config, const std::filesystem::path& out_dir);

}  // namespace cellscape::study_detail
