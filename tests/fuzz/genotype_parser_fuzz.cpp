// libFuzzer target for the genotype parsers: a single genotype (text or
// JSON) and a list of them (a cell file, the zoo). Any input must either
// parse or throw cellscape::Error; whatever parses must print and parse back
// to the same genotype, in both forms. Anything else (a crash, a sanitizer
// report, another exception type, a failed round trip) is a bug. run-fuzz.sh
// allows inputs of up to 256 KiB and seeds lines of 150 KB: std::regex once
// overflowed the stack on such lines.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cellscape/cells/genotype.hpp"
#include "cellscape/cells/zoo.hpp"
#include "cellscape/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        for (const auto& cell : cellscape::parse_genotype_list(text, "fuzz", "fuzz"))
            if (cellscape::parse_genotype_text(cellscape::format_genotype(cell.genotype)).genotype != cell.genotype)
                std::abort();
    } catch (const cellscape::Error&) {
    }
    cellscape::ParsedGenotype parsed;
    try {
        parsed = cellscape::parse_genotype(text);
    } catch (const cellscape::Error&) {
        return 0;
    }
    const auto& genotype = parsed.genotype;
    if (cellscape::parse_genotype_text(cellscape::format_genotype(genotype)).genotype != genotype) std::abort();
    if (cellscape::parse_genotype_json(cellscape::format_genotype_json(genotype)).genotype != genotype) std::abort();
    return 0;
}
