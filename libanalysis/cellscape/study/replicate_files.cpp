#include "cellscape/study/detail/replicate_files.hpp"

#include <fmt/format.h>

#include <vector>

#include "cellscape/train/trainer.hpp"
#include "cellscape/util/error.hpp"

namespace cellscape::study_detail {

std::string analysis_name(const std::string& kind, int64_t epoch) {
    return fmt::format("{}-epoch-{:04d}.h5", kind, epoch);
}

// Direction pair 0's surface keeps the name of a study without pairs.
std::string surface_name(int64_t epoch, int64_t pair) {
    return pair == 0 ? analysis_name("surface", epoch) : fmt::format("surface-epoch-{:04d}-pair-{}.h5", epoch, pair);
}

// The replicate's proxies file: its initial network's, so epoch 0.
std::filesystem::path proxies_path(const std::filesystem::path& cell_dir) {
    return cell_dir / analysis_name("proxies", 0);
}

Error replicate_file_error(const Hdf5Error& error, const char* format) {
    return Error(fmt::format("{}; this study wrote it as its replicate's {}: delete it and run the study again, which "
                             "makes it anew",
                             error.what(), format));
}

// The first output a finished replicate has and this one lacks (empty if none).
std::filesystem::path missing_outputs(const StudyConfig& config, const std::filesystem::path& cell_dir) {
    std::vector<std::filesystem::path> needed{cell_dir / "train" / epoch_checkpoint_name(config.training.epochs)};
    for (int64_t epoch : config.analysis_epochs) {
        needed.push_back(cell_dir / "train" / epoch_checkpoint_name(epoch));
        if (config.hessian.enabled) needed.push_back(cell_dir / analysis_name("hessian", epoch));
        if (config.gradient_variance.enabled) needed.push_back(cell_dir / analysis_name("gradvar", epoch));
        if (config.surface.enabled)
            for (int64_t pair = 0; pair < config.surface.direction_pairs; ++pair)
                needed.push_back(cell_dir / surface_name(epoch, pair));
    }
    if (config.proxies.enabled) needed.push_back(proxies_path(cell_dir));
    for (const auto& path : needed)
        if (!std::filesystem::exists(path)) return path;
    return {};
}

}  // namespace cellscape::study_detail
