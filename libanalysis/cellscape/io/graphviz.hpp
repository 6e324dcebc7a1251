#pragma once
// Drawing DOT text with Graphviz's `dot` program.
#include <filesystem>
#include <string>

namespace cellscape {

// Renders `dot_text` into `output`, whose extension (.svg, .png or .pdf)
// picks the format. The file appears complete or not at all: `dot` writes a
// temporary file that is renamed into place. Throws Error when `dot` is
// missing (naming `apt-get install graphviz`) or fails.
void render_dot(const std::string& dot_text, const std::filesystem::path& output);

}  // namespace cellscape
