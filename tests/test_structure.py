"""Which way the library's includes point (docs/development.md, "Layers").

The folders of libanalysis/cellscape/ form layers, lowest first; a file may
include its own folder's headers and those of lower layers, never a higher
one's (so the folders have no circles), and tools/ may not include detail/
(the command line must build against the installed package, which has no
detail/). The library seeds LibTorch's global generator in one place only
(train/checkpoint.cpp, seeded_network) and in the trainer's per-epoch seeding.

Issue "One home for every setting" removes the violations that remain
today; they are listed in KNOWN below, each with why it exists. A new
violation fails, and so does a listed one that is gone (the list only
shrinks: delete its entry)."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "libanalysis" / "cellscape"
LAYERS = ["util", "stats", "cells", "io", "nn", "data", "train", "analysis", "study", "rank"]
INCLUDE = re.compile(r'^\s*#include\s+"cellscape/(\w+)/', re.M)

# (file, the folder it includes) pairs that point up today, or a tools/ file that includes detail/.
KNOWN = {
    ("util/device.cpp", "nn"): "available memory is queried through nn/network_size.hpp",
    ("io/hdf5.cpp", "nn"): "HDF5 writers size their buffers by nn's available memory",
    ("detail/autograd.hpp", "analysis"): "the fast autograd paths read analysis/objective_settings.hpp",
    ("detail/dataset_readers.hpp", "data"): "the raw readers return data/dataset.hpp's LabelledImages",
    ("tools/commands.hpp", "detail"): "OutputFile::claim returns an OutputLock",
    ("tools/info_command.cpp", "detail"): "info prints the allocator in use",
    ("tools/main.cpp", "detail"): "main names the allocator",
}
# Library files that call torch::manual_seed.
SEEDING = {"train/checkpoint.cpp", "train/trainer.cpp"}


def library_files():
    return sorted(p for p in LIBRARY.rglob("*") if p.suffix in (".hpp", ".cpp", ".in") and p.is_file())


def layer_of(folder):
    # detail/ holds internals of several layers: it may include anything below the highest one it serves
    # only through the KNOWN list, and anything may include it.
    return LAYERS.index(folder) if folder in LAYERS else None


def violations():
    found = set()
    for path in library_files():
        folder = path.relative_to(LIBRARY).parts[0]
        if folder not in LAYERS and folder != "detail":
            continue
        for included in INCLUDE.findall(path.read_text()):
            if included == folder or included == "detail":
                continue
            if folder == "detail" or layer_of(included) is None or layer_of(included) > layer_of(folder):
                found.add((str(path.relative_to(LIBRARY)), included))
    for path in sorted((ROOT / "tools").glob("*.[ch]pp")):
        if "detail" in INCLUDE.findall(path.read_text()):
            found.add((f"tools/{path.name}", "detail"))
    return found


def test_every_folder_is_a_layer():
    folders = {p.name for p in LIBRARY.iterdir() if p.is_dir()}
    assert folders - set(LAYERS) == {"detail"}, "a new folder needs its place in LAYERS (docs/development.md)"


def test_includes_point_down_the_layers():
    found = violations()
    new = sorted(found - set(KNOWN))
    gone = sorted(set(KNOWN) - found)
    assert not new, f"includes that point up the layers (or tools/ into detail/): {new}"
    assert not gone, f"fixed, so delete from KNOWN: {gone}"


def test_only_seeded_network_and_the_trainer_seed_the_global_generator():
    calls = {str(p.relative_to(LIBRARY)) for p in library_files()
             if re.search(r"^(?!\s*//).*\b(torch::manual_seed|at::manual_seed)\s*\(", p.read_text(), re.M)}
    assert calls == SEEDING, f"torch::manual_seed outside seeded_network and the trainer: {sorted(calls - SEEDING)}"
