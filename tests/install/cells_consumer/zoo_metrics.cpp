// The width and depth of DARTS_V2's normal cell through the installed cells
// library, checked against the label Shu, Wang and Cai (ICLR 2020) give the
// DARTS cell in their figures: "3.5c, 3". Exits 0 when they agree.
#include <cellscape/cells/metrics.hpp>
#include <cellscape/cells/zoo.hpp>

#include <cstdio>

int main() {
    for (const cellscape::NamedGenotype& cell : cellscape::genotype_zoo()) {
        if (cell.name != "DARTS_V2") continue;
        const cellscape::CellMetrics metrics = cellscape::cell_metrics(cell.genotype.normal, cellscape::CellType::normal);
        std::printf("DARTS_V2 normal cell: width %s, depth %d\n", cellscape::format_width(metrics.width).c_str(),
                    metrics.depth);
        return metrics.width == 3.5 && metrics.depth == 3 ? 0 : 1;
    }
    std::puts("DARTS_V2 is not in the zoo");
    return 1;
}
