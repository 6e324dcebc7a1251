// The `cellscape` command line: dispatches to one subcommand per file, and
// turns the library's errors into sentences that name what the user typed.
#include <c10/util/Exception.h>
#include <hdf5.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>

#include "cellscape/io/hdf5.hpp"
#include "cellscape/io/paths.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/memory.hpp"
#include "cellscape/util/version.hpp"
#include "commands.hpp"
#include "terminal_progress.hpp"

namespace {

std::string typed_command_line;

cellscape::tools::TerminalProgress& terminal_progress() {
    static cellscape::tools::TerminalProgress terminal;
    return terminal;
}

// Library settings whose flag is not "--" + the setting with '-' for '_'.
const std::map<std::string, std::string>& flag_exceptions() {
    static const std::map<std::string, std::string> flags = {
        {"learning_rate", "--lr"},
        {"min_learning_rate", "--lr-min"},
        {"gradient_clip", "--grad-clip"},
        {"bn_mode", "--bn"},
        {"params_regex", "--params"},
        {"groups", "--group"},
        {"hvp_memory_bytes", "--hvp-memory"},
        {"evaluations", "--eval"},
        {"gradient_variance_batches", "--gv-batches"},
        {"gradient_variance_batch_size", "--gv-batch-size"},
        {"spec", "CELL"},
        {"out_dir", "--out"},
        {"genotype_column", "--genotype"},
        {"name_column", "--name"},
        {"values", "--value"},
        {"bootstrap_samples", "--bootstrap"},
        {"top_fraction", "--top"},
    };
    return flags;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The one sentence for an allocation that failed, with the allocator's own words when it has some.
int out_of_memory(const std::string& detail) {
    std::cerr << "cellscape: error: out of memory" << (detail.empty() ? "" : " (" + detail + ")")
              << "; use a smaller network (--init-channels, --layers), fewer samples or smaller batches\n";
    return 1;
}

// How the user spelled `setting` on `command`'s command line: its flag when
// the command has one, else the setting's own name.
std::string spelled(const CLI::App* command, const std::string& setting) {
    const auto exception = flag_exceptions().find(setting);
    std::string flag = "--" + setting;
    for (char& c : flag)
        if (c == '_') c = '-';
    if (exception != flag_exceptions().end()) flag = exception->second;
    if (command && command->get_option_no_throw(flag)) return flag;
    return setting;
}

const CLI::App* parsed_subcommand(const CLI::App& app) {
    const auto parsed = app.get_subcommands();
    return parsed.empty() ? nullptr : parsed.front();
}

int run(int argc, char** argv) {
    // The program computes float32 as float32 on CUDA unless a command is
    // told tf32 (LibTorch's own default lets cuDNN use TensorFloat-32).
    cellscape::set_cuda_float32(cellscape::CudaFloat32::ieee);
    CLI::App app{"cellscape: why neural architecture search picks the cells it picks"};
    app.set_version_flag("--version", cellscape::version);
    app.require_subcommand(1);
    cellscape::tools::add_cell_command(app);
    cellscape::tools::add_sample_command(app);
    cellscape::tools::add_variants_command(app);
    cellscape::tools::add_network_command(app);
    cellscape::tools::add_train_command(app);
    cellscape::tools::add_hessian_command(app);
    cellscape::tools::add_gradvar_command(app);
    cellscape::tools::add_proxies_command(app);
    cellscape::tools::add_surface_command(app);
    cellscape::tools::add_merge_command(app);
    cellscape::tools::add_study_command(app);
    cellscape::tools::add_rank_command(app);
    cellscape::tools::add_info_command(app);
    try {
        try {
            app.parse(argc, argv);
        } catch (...) {
            terminal_progress().end_line();  // the error gets a line of its own
            throw;
        }
    } catch (const CLI::ParseError& error) {
        return app.exit(error);
    } catch (const cellscape::Interrupted& error) {
        std::cerr << "cellscape: " << error.what();
        const CLI::App* command = parsed_subcommand(app);
        if (!error.resume_from().empty() && command && command->get_name() == "train")
            std::cerr << " (`cellscape train --resume " << error.resume_from() << "`)";
        std::cerr << "\n";
        return 128 + error.signal_number();
    } catch (const cellscape::SettingError& error) {
        const std::string name = spelled(parsed_subcommand(app), error.setting());
        std::cerr << "cellscape: error: " << name << ": " << error.problem()
                  << (error.problem().find("already exists") != std::string::npos ? " (--force replaces it)" : "")
                  << "\n";
        return 1;
    } catch (const cellscape::Error& error) {
        std::cerr << "cellscape: error: " << error.what() << "\n";
        return 1;
    } catch (const std::filesystem::filesystem_error& error) {
        std::cerr << "cellscape: error: " << cellscape::file_system_sentence(error) << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        return out_of_memory("");
    } catch (const c10::OutOfMemoryError& error) {
        // LibTorch's allocator failing (a CPU or GPU allocation), anywhere: the same sentence as std::bad_alloc.
        return out_of_memory(first_line(error.what_without_backtrace()));
    } catch (const c10::Error& error) {
        std::cerr << "cellscape: internal error in LibTorch (please report it with the command line): "
                  << error.what_without_backtrace() << "\n";
        return 70;
    } catch (const std::exception& error) {
        std::cerr << "cellscape: internal error (please report it with the command line): " << error.what() << "\n";
        return 70;
    }
    return 0;
}

}  // namespace

const std::string& cellscape::tools::command_line() { return typed_command_line; }

cellscape::OutputRecord cellscape::tools::analysis_record(uint64_t seed, const nlohmann::ordered_json& settings) {
    nlohmann::ordered_json record = {{"seed", seed}};
    record.update(settings);
    return {typed_command_line, record.dump()};
}

cellscape::ProgressSink* cellscape::tools::progress_sink() { return &terminal_progress(); }

void cellscape::tools::OutputFile::add_to(CLI::App& command, const std::string& description) {
    command.add_option("--out", path, description);
    command.add_flag("--force", force, "Replace an existing --out file (once the new one is complete)");
}

void cellscape::tools::OutputFile::check(const NamedInputs& inputs, bool allow_existing) const {
    if (path.empty()) return;
    cellscape::check_output_is_not_an_input(path, inputs, "out");
    cellscape::check_output_file(path, force || allow_existing, "out");
}

std::unique_ptr<cellscape::OutputLock> cellscape::tools::OutputFile::claim(const NamedInputs& inputs) const {
    check(inputs);
    if (path.empty()) return nullptr;
    return std::make_unique<cellscape::OutputLock>(path, "the file " + path);
}

cellscape::NamedInputs cellscape::tools::inputs_of(const ObjectiveSource& source) {
    return {{source.checkpoint, "checkpoint"}, {source.torchscript, "torchscript"}, {source.data, "data"}};
}

int main(int argc, char** argv) {
    // Process-wide choices belong to the program, not the library: glibc's
    // allocator keeps freed memory (util/memory.hpp), and HDF5 prints no
    // error stacks (the library's errors say what failed).
    cellscape::keep_freed_memory_for_reuse();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    // A write past a file-size limit (ulimit -f) fails with EFBIG, reported
    // like a full disk, instead of the kernel's SIGXFSZ killing the process.
    std::signal(SIGXFSZ, SIG_IGN);
    for (int i = 0; i < argc; ++i) typed_command_line += (i ? " " : "") + std::string(argv[i]);
    const int status = run(argc, argv);
    terminal_progress().end_line();
    // Every file is closed by now. Leave without the exit handlers: after a
    // write failed on a full disk, HDF5 1.10's own handler crashes closing
    // the file it failed to close (a segmentation fault after the error).
    errno = 0;
    std::cout.flush();
    // Output that never reached its file (stdout redirected to a full disk) is a failure, not a success.
    if ((!std::cout || std::fflush(stdout) != 0) && status == 0) {
        std::cerr << "cellscape: error: cannot write the standard output: " << cellscape::file_system_cause(errno)
                  << "\n";
        std::cerr.flush();
        std::_Exit(1);
    }
    std::cerr.flush();
    std::fflush(nullptr);
    std::_Exit(status);
}
