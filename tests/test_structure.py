"""Which way the library's includes point (docs/development.md, "Layers").

The folders of libanalysis/cellscape/ form layers, lowest first; a file may
include its own folder's headers and those of lower layers, never a higher
one's. A folder's detail/ holds its internals, which only that folder's
files include (tests and benchmarks may), and which are not installed; so
tools/, which builds against the installed package
(tests/install/run-consumer-test.sh), includes none. No two files of the
library include each other's units in a circle (a unit: x.hpp, or a
folder's detail/x.hpp, with x.cpp).
The library seeds LibTorch's global generators in one place only
(train/detail/global_seed.hpp, a scope that gives the caller's states back).

A violation fails the test with the file and the include."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "libanalysis" / "cellscape"
LAYERS = ["util", "stats", "cells", "io", "nn", "data", "train", "analysis", "study", "rank"]
INCLUDE = re.compile(r'^\s*#include\s+"cellscape/([\w/]+)\.hpp"', re.M)
# The one file that calls torch::manual_seed: GlobalSeedScope::seed.
SEEDING = {"train/detail/global_seed.hpp"}


def library_files():
    return sorted(p for p in LIBRARY.rglob("*") if p.suffix in (".hpp", ".cpp", ".in") and p.is_file())


def includes(path):
    """The cellscape headers `path` includes, as paths below cellscape/ without .hpp."""
    return INCLUDE.findall(path.read_text())


def layer_violations(path, relative):
    folder = relative.split("/")[0]
    found = []
    for included in includes(path):
        parts = included.split("/")
        if "detail" in parts and parts[0] != folder:
            found.append(f"{relative} includes {included}.hpp, another folder's internals")
        elif parts[0] not in LAYERS:
            found.append(f"{relative} includes {included}.hpp, of no layer")
        elif LAYERS.index(parts[0]) > LAYERS.index(folder):
            found.append(f"{relative} includes {included}.hpp, a higher layer ({parts[0]} above {folder})")
    return found


def violations():
    found = []
    for path in library_files():
        relative = str(path.relative_to(LIBRARY))
        if "/" in relative:
            found += layer_violations(path, relative)
    for path in sorted((ROOT / "tools").glob("*.[ch]pp")):
        for included in includes(path):
            if "detail" in included.split("/"):
                found.append(f"tools/{path.name} includes {included}.hpp, which is not installed")
    return found


def unit_of(relative):
    """x.hpp with x.cpp; a folder's detail/x.hpp declares what its x.cpp defines."""
    return relative.rsplit(".", 1)[0].replace("/detail/", "/")


def include_circles():
    """Circles of units (x.hpp with x.cpp) that include each other, as lists of units."""
    graph = {}
    for path in library_files():
        unit = unit_of(str(path.relative_to(LIBRARY)))
        graph.setdefault(unit, set()).update(unit_of(i) for i in includes(path) if unit_of(i) != unit)
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def connect(unit):  # Tarjan's strongly connected components
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        on_stack.add(unit)
        for other in graph.get(unit, ()):
            if other not in index:
                connect(other)
                low[unit] = min(low[unit], low[other])
            elif other in on_stack:
                low[unit] = min(low[unit], index[other])
        if low[unit] == index[unit]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == unit:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for unit in sorted(graph):
        if unit not in index:
            connect(unit)
    return circles


def test_every_folder_is_a_layer():
    folders = {p.name for p in LIBRARY.iterdir() if p.is_dir()}
    assert folders == set(LAYERS), "a new folder needs its place in LAYERS (docs/development.md)"


def test_includes_point_down_the_layers_and_internals_stay_home():
    assert violations() == []


def test_no_units_include_each_other_in_a_circle():
    assert include_circles() == []


def test_only_the_seed_scope_seeds_the_global_generator():
    calls = {str(p.relative_to(LIBRARY)) for p in library_files()
             if re.search(r"^(?!\s*//).*\b(torch::manual_seed|at::manual_seed|manual_seed\s*\(|set_current_seed)\s*\(?",
                          p.read_text(), re.M)}
    assert calls == SEEDING, f"seeding LibTorch's default generators outside GlobalSeedScope: {sorted(calls - SEEDING)}"
