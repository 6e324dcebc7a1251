"""Every file cellscape writes matches docs/hdf5-schema.md, in both directions."""
import pathlib
import re

import h5py

SCHEMA = pathlib.Path(__file__).resolve().parents[2] / "docs" / "hdf5-schema.md"


def documented_names(file_format):
    """The names listed in the `text` block of the section for `file_format`."""
    text = SCHEMA.read_text()
    section = re.search(r"^## .*\(`format` = `" + re.escape(file_format) + r"`.*?```text\n(.*?)```", text,
                        re.S | re.M)
    assert section, f"docs/hdf5-schema.md has no section for {file_format}"
    names = [line.split()[0] for line in section.group(1).splitlines() if line.strip()]
    required = {n for n in names if not n.endswith("?")}
    return {n.rstrip("?") for n in names}, required


def written_names(path):
    """'@attr' for root attributes and 'a/b/c' for datasets."""
    names = {f"@{name}" for name in h5py.File(path).attrs}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: names.add(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def datasets_of(path):
    """Every dataset of a file by its path ('a/b'), read whole."""
    data = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, item: data.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return data


def matches(pattern, name):
    regex = "^" + re.escape(pattern).replace(r"\{name\}", "[^/]+") + "$"
    return re.match(regex, name) is not None


def check_against_schema(path, file_format):
    documented, required = documented_names(file_format)
    written = written_names(path)
    undocumented = [n for n in written if not any(matches(p, n) for p in documented)]
    missing = [p for p in required if not any(matches(p, n) for n in written)]
    assert not undocumented, f"{path} writes names docs/hdf5-schema.md does not list: {undocumented}"
    assert not missing, f"{path} lacks names docs/hdf5-schema.md promises: {missing}"


def test_checkpoint_matches_the_documented_schema(tiny_run):
    check_against_schema(tiny_run / "epoch-0001.h5", "cellscape-checkpoint")
    check_against_schema(tiny_run / "latest.h5", "cellscape-checkpoint")


def test_hessian_file_matches_the_documented_schema(cellscape, tiny_run, tmp_path):
    out = tmp_path / "hessian.h5"
    cellscape("hessian", "--checkpoint", str(tiny_run / "epoch-0001.h5"), "--samples", "32",
              "--group", "classifier", "--top-k", "2", "--bottom-k", "1", "--eigenvectors", "--trace",
              "--trace-max-probes", "10", "--density", "--slq-steps", "5", "--slq-runs", "2", "--out", str(out))
    check_against_schema(out, "cellscape-hessian")


def test_gradient_variance_file_matches_the_documented_schema(cellscape, tiny_run, tmp_path):
    out = tmp_path / "gradvar.h5"
    result = cellscape("gradvar", "--checkpoint", str(tiny_run / "epoch-0001.h5"), "--checkpoint",
                       str(tiny_run / "epoch-0002.h5"), "--batches", "4", "--batch-size", "16",
                       "--out", str(out), "--json").stdout
    assert '"total_variance"' in result
    check_against_schema(out, "cellscape-gradvar")
    with h5py.File(out) as f:
        assert f["total_variance"].shape == (2,) and f["tensor_variance"].shape[0] == 2


def test_surface_files_match_the_documented_schema(cellscape, tiny_run, tmp_path):
    checkpoint = str(tiny_run / "epoch-0002.h5")
    full = tmp_path / "full.h5"
    cellscape("surface", "--checkpoint", checkpoint, "--x", "-1:1:3", "--y", "-1:1:2", "--eval", "train,test",
              "--samples", "32", "--gradient-variance", "--gv-batches", "2", "--gv-batch-size", "8",
              "--out", str(full))
    check_against_schema(full, "cellscape-surface")
    one_d = tmp_path / "one-d.h5"
    cellscape("surface", "--checkpoint", checkpoint, "--x", "-1:1:3", "--eval", "test", "--samples", "32",
              "--out", str(one_d))
    check_against_schema(one_d, "cellscape-surface")
    shards = [tmp_path / f"shard{i}.h5" for i in range(2)]
    for i, shard in enumerate(shards):
        cellscape("surface", "--checkpoint", checkpoint, "--x", "-1:1:3", "--eval", "test", "--samples", "32",
                  "--shard", f"{i}/2", "--out", str(shard))
    cellscape("merge", str(tmp_path / "merged.h5"), *map(str, shards))
    check_against_schema(tmp_path / "merged.h5", "cellscape-surface")


def test_rank_file_matches_the_documented_schema(cellscape, tmp_path):
    # Two cells, one with a none edge (the *_counting_none columns), synflow over two seeds (the proxy tables).
    cells = ["Genotype(normal=[('sep_conv_3x3', 0), ('none', 1), ('skip_connect', 0), ('sep_conv_5x5', 2)], "
             "normal_concat=[2, 3], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
             "('avg_pool_3x3', 0)], reduce_concat=[2, 3])",
             "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('dil_conv_3x3', 0), ('sep_conv_5x5', 2)], "
             "normal_concat=[2, 3], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
             "('avg_pool_3x3', 0)], reduce_concat=[2, 3])",
             "Genotype(normal=[('dil_conv_5x5', 0), ('sep_conv_3x3', 1), ('dil_conv_3x3', 0), ('sep_conv_5x5', 2)], "
             "normal_concat=[2, 3], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
             "('avg_pool_3x3', 0)], reduce_concat=[2, 3])"]
    table = tmp_path / "cells.csv"
    table.write_text("genotype,acc\n" + "".join(f'"{g}",{0.1 * i}\n' for i, g in enumerate(cells)) + '"x",1\n')
    out = tmp_path / "rank.h5"
    cellscape("rank", str(table), "--skip-bad", "--proxies", "synflow", "--seeds", "1,2", "--init-channels", "4",
              "--layers", "3", "--bootstrap", "100", "--permutations", "100", "--out", str(out))
    check_against_schema(out, "cellscape-rank")
