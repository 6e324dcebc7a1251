"""A synthetic benchmark table: DARTS-space genotypes with an accuracy that
depends on known features plus noise, for `cellscape rank` (docs/rank.md)
and its tests (tests/cli/test_rank_cli.py).

Cells are drawn as DARTS derives them: each of a cell's 4 intermediate nodes
takes two different earlier nodes, each edge an operation. An edge from an
input node (0 or 1) is a convolution (sep_conv_3x3/5x5, dil_conv_3x3/5x5)
with probability 0.8, an edge between intermediate nodes with probability
0.2 (else a pooling or skip_connect); in a fifth of the cells, each edge is
`none` with probability 0.1. So wide normal cells (many edges from the
inputs) also carry more parameterized edges: width and operation content
are confounded, as in the published search spaces' random samples.

The planted accuracy (a fraction, as benchmarks report it):

    valid_acc = 0.90 + 0.005 * P + N(0, 0.008^2)
    test_acc  = valid_acc + N(0, 0.003^2)

P: the normal cell's parameterized edges (convolutions). Width and depth
have no effect of their own: width's raw association with the accuracy
comes through P alone (the planted confound), and a partial correlation
holding the operation content fixed must remove it.

`--truth FILE` writes, besides, the population Spearman's rho of the normal
cell's width, depth and parameterized edges with valid_acc, and the
partial rho of width and depth with the operation content held fixed as
`cellscape rank` holds it (both cells' parameterized edges and every
operation's edge count in each cell type, ranks fitted by least squares),
computed on 100,000 further cells of the same process (standard error about
0.003): the values a test must find within its intervals. The committed
synthetic_truth.json is `--seed 0`'s.

Usage: python make_synthetic_benchmark.py OUT.csv [--cells 1200] [--seed 0] [--truth OUT.json]
"""
import argparse
import csv
import json

import numpy as np

CONVOLUTIONS = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
OTHERS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect")
ALL_OPERATIONS = CONVOLUTIONS + OTHERS + ("none",)
NODES = 4


def draw_cell(rng, with_none):
    edges = []
    for node in range(NODES):
        sources = rng.choice(node + 2, size=2, replace=False)
        for source in sorted(int(s) for s in sources):
            p_conv = 0.8 if source < 2 else 0.2
            op = rng.choice(CONVOLUTIONS) if rng.random() < p_conv else rng.choice(OTHERS)
            if with_none and rng.random() < 0.1:
                op = "none"
            edges.append((str(op), source))
    return edges


def width_depth(edges):
    """Width and depth as information flows (a `none` edge carries nothing), concat = all intermediate nodes."""
    longest = [0, 0] + [-1] * NODES
    width = 0.0
    for k, (op, source) in enumerate(edges):
        node = k // 2 + 2
        if op == "none" or longest[source] < 0:
            continue
        longest[node] = max(longest[node], longest[source] + 1)
        if source < 2:
            width += 0.5
    live = [longest[n] for n in range(2, NODES + 2) if longest[n] >= 0]
    return width, (max(live) + 1 if live else 0)


def parameterized(edges):
    return sum(op in CONVOLUTIONS for op, _ in edges)


def genotype_text(normal, reduce):
    def cell(edges):
        return "[" + ", ".join(f"('{op}', {source})" for op, source in edges) + "]"
    return (f"Genotype(normal={cell(normal)}, normal_concat=range(2, 6), reduce={cell(reduce)}, "
            f"reduce_concat=range(2, 6))")


def draw_table(rng, count):
    rows = []
    for _ in range(count):
        with_none = rng.random() < 0.2
        normal, reduce = draw_cell(rng, with_none), draw_cell(rng, with_none)
        width, depth = width_depth(normal)
        p = parameterized(normal)
        valid = 0.90 + 0.005 * p + rng.normal(0, 0.008)
        content = [parameterized(normal), parameterized(reduce)]
        content += [sum(op == name for op, _ in edges) for edges in (normal, reduce) for name in ALL_OPERATIONS]
        rows.append({"genotype": genotype_text(normal, reduce), "normal_width": width, "normal_depth": depth,
                     "normal_parameterized_edges": p, "content": content, "valid_acc": valid,
                     "test_acc": valid + rng.normal(0, 0.003)})
    return rows


def ranks(values):
    from scipy.stats import rankdata
    return rankdata(values)


def partial_rho(x, y, controls):
    """Spearman's rho of x and y with the controls' ranks fitted out of both ranks (least squares)."""
    design = np.column_stack([np.ones(len(x))] + [ranks(c) for c in controls.T])
    rx, ry = ranks(x), ranks(y)
    ex = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    ey = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    return float(np.corrcoef(ex, ey)[0, 1])


def truth(seed):
    from scipy.stats import spearmanr
    rows = draw_table(np.random.default_rng(seed + 1_000_003), 100_000)
    column = {key: np.array([row[key] for row in rows]) for key in rows[0] if key != "genotype"}
    content = column["content"]
    content = content[:, content.std(axis=0) > 0]
    out = {f"rho_{key}": float(spearmanr(column[key], column["valid_acc"])[0])
           for key in ("normal_width", "normal_depth", "normal_parameterized_edges")}
    for key in ("normal_width", "normal_depth"):
        out[f"partial_rho_{key}"] = partial_rho(column[key], column["valid_acc"], content)
    out["cells"] = len(rows)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--cells", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truth", help="also write the population rhos here (JSON)")
    args = parser.parse_args()
    rows = draw_table(np.random.default_rng(args.seed), args.cells)
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "genotype", "valid_acc", "test_acc"])
        for i, row in enumerate(rows):
            writer.writerow([f"cell-{i}", row["genotype"], f"{row['valid_acc']:.6f}", f"{row['test_acc']:.6f}"])
    if args.truth:
        with open(args.truth, "w") as f:
            json.dump(truth(args.seed), f, indent=2)


if __name__ == "__main__":
    main()
