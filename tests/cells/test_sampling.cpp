// The sampler and the variants: seeded determinism and the invariants of each kind.
#include <catch2/catch.hpp>

#include <set>

#include "cellscape/cells/metrics.hpp"
#include "cellscape/cells/sampling.hpp"
#include "cellscape/cells/zoo.hpp"
#include "cellscape/util/random.hpp"

using namespace cellscape;

TEST_CASE("the random engine is the standard's mt19937_64 and below() covers its range uniformly") {
    // The standard fixes mt19937_64's 10000th output for the default seed.
    std::mt19937_64 reference;
    reference.discard(9999);
    CHECK(reference() == 9981545732273789042ULL);

    SeededRandom random(7);
    std::vector<int> counts(6, 0);
    for (int i = 0; i < 60000; ++i) ++counts[random.below(6)];
    // Each face expects 10000 draws; 5 standard deviations (~456) is the bound.
    for (int count : counts) CHECK(std::abs(count - 10000) < 460);
}

TEST_CASE("a fixed seed gives the same cells on every machine and compiler") {
    // Pinned output: the sampler uses only mt19937_64 and integer arithmetic,
    // both fixed by the standard, so this string must never change.
    const Genotype genotype = sample_genotypes(1, 1).front();
    CHECK(format_genotype(genotype) ==
          "Genotype(normal=[('sep_conv_5x5', 0), ('dil_conv_3x3', 1), ('dil_conv_5x5', 0), ('sep_conv_5x5', 2), "
          "('dil_conv_3x3', 0), ('avg_pool_3x3', 2), ('max_pool_3x3', 2), ('dil_conv_5x5', 4)], "
          "normal_concat=[2, 3, 4, 5], reduce=[('dil_conv_3x3', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 2), "
          "('skip_connect', 1), ('sep_conv_3x3', 3), ('max_pool_3x3', 0), ('sep_conv_3x3', 0), "
          "('sep_conv_3x3', 3)], reduce_concat=[2, 3, 4, 5])");
}

TEST_CASE("uniform random cells pick two distinct earlier nodes and no `none`") {
    std::set<std::string> seen;
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
        for (const Genotype& genotype : sample_genotypes(1, seed, 5)) {
            seen.insert(format_genotype(genotype));
            for (CellType type : both_cell_types) {
                const Cell& cell = genotype.cell(type);
                REQUIRE(cell.intermediate_nodes() == 5);
                CHECK(cell.concat == std::vector<int>{2, 3, 4, 5, 6});
                for (std::size_t k = 0; k < cell.edges.size(); k += 2) {
                    CHECK(cell.edges[k].source != cell.edges[k + 1].source);
                    CHECK(cell.edges[k].source < static_cast<int>(k / 2) + 2);
                }
                for (const Edge& edge : cell.edges) CHECK(edge.op != Operation::none);
            }
        }
    }
    CHECK(seen.size() == 200);  // distinct seeds give distinct cells
}

TEST_CASE("the first of several sampled genotypes equals the single one of the same seed") {
    CHECK(sample_genotypes(3, 11).front() == sample_genotypes(1, 11).front());
    CHECK(sample_genotypes(2, 11) != sample_genotypes(2, 12));
}

TEST_CASE("variant invariants hold for every zoo cell") {
    for (const auto& base : genotype_zoo()) {
        INFO(base.name);
        const Genotype widest = make_variants(base.genotype, VariantKind::widest, 1, 0).front();
        const Genotype chain = make_variants(base.genotype, VariantKind::chain, 1, 0).front();
        for (CellType type : both_cell_types) {
            const Cell& original = base.genotype.cell(type);
            const int nodes = original.intermediate_nodes();

            const CellMetrics wide = cell_metrics(widest.cell(type), type);
            CHECK(wide.width == nodes);
            CHECK(wide.depth == 2);

            const CellMetrics deep = cell_metrics(chain.cell(type), type);
            CHECK(deep.width == 1.0);
            CHECK(deep.depth == nodes + 1);

            for (const Genotype* variant : {&widest, &chain}) {
                const Cell& cell = variant->cell(type);
                CHECK(cell.concat == original.concat);
                for (std::size_t k = 0; k < cell.edges.size(); ++k) CHECK(cell.edges[k].op == original.edges[k].op);
            }
        }
        for (std::uint64_t seed = 0; seed < 20; ++seed) {
            for (const Genotype& variant : make_variants(base.genotype, VariantKind::random_operations, 2, seed)) {
                for (CellType type : both_cell_types) {
                    const Cell& original = base.genotype.cell(type);
                    const CellMetrics before = cell_metrics(original, type);
                    const CellMetrics after = cell_metrics(variant.cell(type), type);
                    CHECK(after.width == before.width);
                    CHECK(after.depth == before.depth);
                    for (std::size_t k = 0; k < original.edges.size(); ++k) {
                        CHECK(variant.cell(type).edges[k].source == original.edges[k].source);
                        CHECK(variant.cell(type).edges[k].op != Operation::none);
                    }
                }
            }
            for (const Genotype& variant : make_variants(base.genotype, VariantKind::random_connections, 2, seed)) {
                for (CellType type : both_cell_types) {
                    const Cell& original = base.genotype.cell(type);
                    CHECK(variant.cell(type).concat == original.concat);
                    for (std::size_t k = 0; k < original.edges.size(); ++k)
                        CHECK(variant.cell(type).edges[k].op == original.edges[k].op);
                    validate_cell(variant.cell(type), type);
                }
            }
        }
    }
}

TEST_CASE("random connections reach every earlier node and differ between seeds") {
    const Genotype base = find_in_zoo("DARTS_V2")->genotype;
    std::set<int> sources_of_last_node;
    for (const Genotype& variant : make_variants(base, VariantKind::random_connections, 200, 3))
        for (std::size_t k = 6; k < 8; ++k) sources_of_last_node.insert(variant.normal.edges[k].source);
    CHECK(sources_of_last_node == std::set<int>{0, 1, 2, 3, 4});
    CHECK(make_variants(base, VariantKind::random_connections, 1, 3) !=
          make_variants(base, VariantKind::random_connections, 1, 4));
}

TEST_CASE("a variant can rewrite only one of the two cells") {
    const Genotype base = find_in_zoo("DARTS_V2")->genotype;
    const Genotype normal_only = make_variants(base, VariantKind::chain, 1, 0, VariantTarget::normal).front();
    CHECK(normal_only.reduce == base.reduce);
    CHECK(normal_only.normal != base.normal);
    const Genotype reduce_only = make_variants(base, VariantKind::widest, 1, 0, VariantTarget::reduce).front();
    CHECK(reduce_only.normal == base.normal);
    CHECK(cell_metrics(reduce_only.reduce, CellType::reduce).width == 4.0);
}

TEST_CASE("deterministic variant kinds give one genotype whatever the count") {
    const Genotype base = find_in_zoo("ENAS")->genotype;
    CHECK(make_variants(base, VariantKind::widest, 5, 0).size() == 1);
    CHECK(make_variants(base, VariantKind::random_operations, 5, 0).size() == 5);
}

TEST_CASE("stratified variants are distinct cells, none of them the base") {
    // 1c leaves 144 rewirings of a 4-node cell (node 2 reads the inputs in
    // 4 ways, node 3 reads node 2 twice, nodes 4 and 5 read earlier
    // intermediate nodes in 4 and 9 ways): forty draws would repeat a cell
    // with probability 0.996 if repeats were kept.
    const Genotype base = find_in_zoo("DARTS_V2")->genotype;
    const auto variants = stratified_connection_variants(base, 40, 1, {1.0});
    REQUIRE(variants.size() == 40);
    for (std::size_t i = 0; i < variants.size(); ++i) {
        CHECK(variants[i].genotype != base);
        for (std::size_t j = 0; j < i; ++j) CHECK(variants[i].genotype != variants[j].genotype);
    }
    // The base's own width: a rewiring may give the base back, which is not a variant.
    for (const auto& variant : stratified_connection_variants(base, 20, 2, {3.5})) CHECK(variant.genotype != base);
}
