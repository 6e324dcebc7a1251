"""`cellscape cell | sample | variants` as a user runs them."""
import json
import os
import stat

import pytest


def test_list_prints_the_six_zoo_cells_with_widths_and_depths(cellscape):
    out = cellscape("cell", "--list").stdout
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:7]}
    assert rows == {
        "NASNet": ["5c", "2", "5", "3.5c", "3", "5"],
        "AmoebaNet": ["4c", "4", "5", "4c", "3", "5"],
        "DARTS_V1": ["3.5c", "3", "4", "2.5c", "3", "4"],
        "DARTS_V2": ["3.5c", "3", "4", "2.5c", "3", "4"],
        "ENAS": ["5c", "2", "5", "4c", "4", "5"],
        "SNAS_MILD": ["4c", "2", "4", "2.5c", "3", "4"],
    }


def test_list_json_is_an_array_of_cell_objects(cellscape):
    cells = json.loads(cellscape("cell", "--list", "--json").stdout)
    assert [c["name"] for c in cells] == ["NASNet", "AmoebaNet", "DARTS_V1", "DARTS_V2", "ENAS", "SNAS_MILD"]
    darts = cells[3]
    assert darts["normal"]["width"] == 3.5 and darts["normal"]["depth"] == 3 and darts["normal"]["nodes"] == 4
    assert darts["reduce"]["width"] == 2.5
    assert darts["genotype"].startswith("Genotype(normal=[('sep_conv_3x3', 0)")


def test_one_cell_json_is_one_object_and_reads_back_from_a_file(cellscape, tmp_path):
    report = json.loads(cellscape("cell", "darts_v2", "--json").stdout)
    assert report["name"] == "DARTS_V2"
    assert report["normal"]["operations"] == {"sep_conv_3x3": 5, "skip_connect": 2, "dil_conv_3x3": 1}
    saved = tmp_path / "cell.json"
    saved.write_text(json.dumps(report))
    again = json.loads(cellscape("cell", f"@{saved}", "--json").stdout)
    assert again == report


def test_genotype_text_pasted_from_a_paper(cellscape):
    text = ("DARTS = Genotype(normal=[(\"sep_conv_3x3\", 0), (\"sep_conv_3x3\", 1)], normal_concat=range(2, 3), "
            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])")
    out = cellscape("cell", text).stdout
    assert "DARTS = Genotype(" in out
    assert "width 1c, depth 2" in out


def test_sampling_is_identical_across_two_processes(cellscape):
    first = cellscape("sample", "--count", "5", "--seed", "42", "--json").stdout
    second = cellscape("sample", "--count", "5", "--seed", "42", "--json").stdout
    assert first == second
    cells = json.loads(first)
    assert len(cells) == 5 and cells[0]["name"] == "random-s42-0"
    assert first != cellscape("sample", "--count", "5", "--seed", "43", "--json").stdout


def test_variants_keep_their_invariants(cellscape):
    widest = json.loads(cellscape("variants", "NASNet", "--kind", "widest", "--json").stdout)
    assert len(widest) == 1 and widest[0]["normal"]["width"] == 5 and widest[0]["normal"]["depth"] == 2
    chain = json.loads(cellscape("variants", "DARTS_V2", "--kind", "chain", "--json").stdout)
    assert chain[0]["name"] == "DARTS_V2-chain-normal"
    assert chain[0]["normal"]["width"] == 1 and chain[0]["normal"]["depth"] == 5
    ops = json.loads(cellscape("variants", "DARTS_V2", "--kind", "random-ops", "--count", "4", "--seed", "9",
                               "--json").stdout)
    assert len(ops) == 4
    assert all(v["normal"]["width"] == 3.5 and v["normal"]["depth"] == 3 for v in ops)


@pytest.mark.parametrize("variant", ["widest", "chain", "random-connections:count=1,seed=4", "random-ops:seed=2"])
def test_variants_keep_the_base_reduction_cell_unless_asked(cellscape, variant):
    # One cell changes at a time: the reduction cell is the base's unless cells=both is asked for.
    def cells(spec):
        genotype = json.loads(cellscape("cell", spec, "--json").stdout)["genotype"]
        normal, reduce = genotype.split("reduce=")
        return normal, reduce
    base_normal, base_reduce = cells("ENAS")
    normal, reduce = cells(f"ENAS:{variant}")
    assert reduce == base_reduce and normal != base_normal
    assert json.loads(cellscape("cell", f"ENAS:{variant}", "--json").stdout)["name"].startswith(
        f"ENAS-{variant.split(':')[0]}-normal")
    _, both_reduce = cells(f"ENAS:{variant}{',' if ':' in variant else ':'}cells=both")
    assert both_reduce != base_reduce


def test_dot_and_render(cellscape, tmp_path):
    dot = cellscape("cell", "SNAS_MILD", "--dot").stdout
    assert dot.startswith('digraph "SNAS_MILD"') and "SNAS_MILD normal: 4c, depth 2" in dot
    cellscape("cell", "--list", "--render", str(tmp_path / "{name}.svg"))
    drawn = sorted(p.name for p in tmp_path.iterdir())
    assert drawn == sorted(f"{n}.svg" for n in ["NASNet", "AmoebaNet", "DARTS_V1", "DARTS_V2", "ENAS", "SNAS_MILD"])
    assert "<svg" in (tmp_path / "ENAS.svg").read_text()


def test_errors_go_to_stderr_with_a_non_zero_exit(cellscape, tmp_path):
    bad = cellscape("cell", "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 5)], normal_concat=[2], "
                            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])", check=False)
    assert bad.returncode == 1 and bad.stdout == ""
    assert "line 1, column 56: normal edge 1 (into node 2) comes from node 5" in bad.stderr

    unknown = cellscape("cell", "DARTS_V9", check=False)
    assert unknown.returncode == 1 and "'DARTS_V9' is not a zoo cell" in unknown.stderr

    missing = cellscape("cell", f"@{tmp_path}/nope.txt", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr

    several = cellscape("cell", "--list", "--render", str(tmp_path / "all.svg"), check=False)
    assert several.returncode == 1 and "put {name} in the file name" in several.stderr

    bad_kind = cellscape("variants", "DARTS_V2", "--kind", "deepest", check=False)
    assert bad_kind.returncode != 0 and "--kind" in bad_kind.stderr

    nothing = cellscape("cell", check=False)
    assert nothing.returncode != 0 and "CELL (or --list)" in nothing.stderr


def test_render_never_leaves_the_chosen_directory_nor_replaces_without_force(cellscape, tmp_path):
    report = json.loads(cellscape("cell", "DARTS_V2", "--json").stdout)
    out = tmp_path / "out"
    out.mkdir()
    # A cell named with a path (JSON takes any name): refused before anything is drawn, naming the cell.
    for name in ["../escaped", "a/b", "..", "two\nlines"]:
        cells = tmp_path / "cell.json"
        cells.write_text(json.dumps(dict(report, name=name)))
        result = cellscape("cell", f"@{cells}", "--render", str(out / "{name}.svg"), check=False)
        message = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(message) == 1, result.stderr
        assert f"the cell name '{name}' cannot be a file name".replace("\n", "\\x0a") in message[0]
        assert sorted(p.name for p in tmp_path.rglob("*.svg")) == []
    # An existing file: refused without --force, replaced with it.
    target = out / "darts.svg"
    target.write_text("mine")
    kept = cellscape("cell", "DARTS_V2", "--render", str(target), check=False)
    assert kept.returncode == 1 and "already exists" in kept.stderr and "--force replaces it" in kept.stderr
    assert target.read_text() == "mine"
    cellscape("cell", "DARTS_V2", "--render", str(target), "--force")
    assert "<svg" in target.read_text()
    # Never a directory or a FIFO, --force or not.
    (out / "dir.svg").mkdir()
    os.mkfifo(out / "fifo.svg")
    for special in ["dir.svg", "fifo.svg"]:
        refused = cellscape("cell", "DARTS_V2", "--render", str(out / special), "--force", check=False)
        assert refused.returncode == 1, refused.stderr
        assert "is a directory" in refused.stderr or "replaces only regular files" in refused.stderr
    assert (out / "dir.svg").is_dir() and stat.S_ISFIFO(os.stat(out / "fifo.svg").st_mode)
