#pragma once
// Drawing DOT text with Graphviz's `dot` program.
#include <filesystem>
#include <string>

#include "cellscape/util/error.hpp"

namespace cellscape {

// Graphviz's `dot` is not installed (not on PATH): the one failure of
// render_dot a caller may go on without, e.g. a study on a cluster node
// that lacks Graphviz.
class GraphvizMissing : public Error {
public:
    using Error::Error;
};

// Renders `dot_text` into `output`, whose extension (.svg, .png or .pdf)
// picks the format. The file appears complete or not at all: `dot` writes a
// temporary file that is renamed into place. Throws GraphvizMissing when
// `dot` is missing (naming `apt-get install graphviz`), Error when it fails.
void render_dot(const std::string& dot_text, const std::filesystem::path& output);

}  // namespace cellscape
