// The `cellscape` command line: dispatches to one subcommand per file.
#include <iostream>

#include "commands.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/memory.hpp"
#include "util/version.hpp"

namespace {
std::string typed_command_line;
}

const std::string& cellscape::tools::command_line() { return typed_command_line; }

int main(int argc, char** argv) {
    cellscape::keep_freed_memory_for_reuse();
    for (int i = 0; i < argc; ++i) typed_command_line += (i ? " " : "") + std::string(argv[i]);
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
    cellscape::tools::add_surface_command(app);
    cellscape::tools::add_merge_command(app);
    cellscape::tools::add_study_command(app);
    cellscape::tools::add_info_command(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return app.exit(error);
    } catch (const cellscape::Interrupted& error) {
        std::cerr << "cellscape: " << error.what() << "\n";
        return 128 + error.signal_number();
    } catch (const cellscape::Error& error) {
        std::cerr << "cellscape: error: " << error.what() << "\n";
        return 1;
    } catch (const std::exception& error) {
        std::cerr << "cellscape: unexpected error: " << error.what() << "\n";
        return 70;
    }
    return 0;
}
