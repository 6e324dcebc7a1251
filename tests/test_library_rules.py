"""Rules the library's sources keep (libanalysis/): it speaks in its own
settings, not in command-line flags; it writes nothing to the terminal and
changes no process-wide setting behind its caller's back."""
import pathlib
import re

LIBRARY = pathlib.Path(__file__).resolve().parents[1] / "libanalysis"
SOURCES = sorted(p for p in LIBRARY.rglob("*") if p.suffix in (".cpp", ".hpp", ".in"))


def lines_matching(pattern, allowed=()):
    found = []
    for path in SOURCES:
        if path.relative_to(LIBRARY).as_posix() in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{path.relative_to(LIBRARY)}:{number}: {line.strip()}")
    return found


def test_the_library_sources_exist():
    assert len(SOURCES) > 50


def test_no_library_source_mentions_a_command_line_flag():
    # "--flag" anywhere, in code, messages or comments: the command line and
    # the study's TOML loader say how the user spelled a setting.
    # (A flag follows a space, a quote or a backtick; "(--depth" is a decrement.)
    assert lines_matching(r"(?<=[\s\"'`])--[a-z][a-z0-9-]*") == []


def test_the_library_writes_nothing_to_the_terminal():
    # Progress goes to the caller's ProgressSink, errors are exceptions.
    assert lines_matching(r"std::(cout|cerr|clog)\b|\b(f?printf|fputs|puts|perror)\s*\(") == []


def test_process_wide_settings_are_changed_only_where_the_caller_asks():
    # Threads: only set_threads (util/device.cpp), which the caller calls.
    assert lines_matching(r"set_num_threads|set_num_interop_threads", allowed=("cellscape/util/device.cpp",)) == []
    # HDF5's error printing: only the scoped guard in io/hdf5.cpp, which restores it.
    assert lines_matching(r"H5Eset_auto|dontPrint", allowed=("cellscape/io/hdf5.cpp",)) == []
    # Signal handlers: only the interrupt guard, which the program holds (the library never does: it reads
    # the request at its safe points), and no signal's disposition toggled around a call (Graphviz's SIGPIPE).
    assert lines_matching(r"\bsigaction\s*\(|\bsignal\s*\(\s*SIG|\bsigprocmask\s*\(|\bpthread_sigmask\s*\(",
                          allowed=("cellscape/util/interrupt.cpp",)) == []
    assert lines_matching(r"\bInterruptGuard\s+\w+\s*[;({]|\bInterruptGuard\s*[({]\s*[)}]",
                          allowed=("cellscape/util/interrupt.cpp", "cellscape/util/interrupt.hpp")) == []
    # The environment is the program's to read: Slurm's array variables are passed in (Shard::from_slurm_array).
    assert lines_matching(r"\b(std::)?(secure_)?getenv\s*\(") == []
    # How CUDA computes float32: only set_cuda_float32 (util/device.cpp), which the caller calls.
    assert lines_matching(r"setFloat32Precision|setAllowTF32|setFloat32MatmulPrecision",
                          allowed=("cellscape/util/device.cpp",)) == []
    assert lines_matching(r"\bset_cuda_float32\s*\(",
                          allowed=("cellscape/util/device.cpp", "cellscape/util/device.hpp")) == []
    # The allocator's tuning: only keep_freed_memory_for_reuse, which the program calls.
    assert lines_matching(r"\bmallopt\s*\(", allowed=("cellscape/util/memory.cpp",)) == []


def test_no_public_header_includes_an_internal_one():
    # No folder's detail/ is installed (cmake/install.cmake): a public header
    # that included one of its headers would not compile for a consumer.
    public = [p for p in SOURCES if p.suffix == ".hpp" and "detail" not in p.relative_to(LIBRARY).parts]
    assert len(public) > 40
    found = [f"{p.relative_to(LIBRARY)}: {line.strip()}" for p in public for line in p.read_text().splitlines()
             if re.match(r'\s*#\s*include\s*[<"]cellscape/(\w+/)?detail/', line)]
    assert found == []


def test_every_catch2_test_name_survives_ctest():
    # catch_discover_tests registers each TEST_CASE under its name, and CTest
    # splits a name at ';' (a CMake list): the registered test then matches no
    # Catch2 test case and "passes" without running anything.
    tests = pathlib.Path(__file__).resolve().parent
    broken = []
    for path in sorted(tests.rglob("*.cpp")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = re.search(r'TEST_CASE\s*\(\s*"((?:[^"\\]|\\.)*)"', line)
            if match and ";" in match.group(1):
                broken.append(f"{path.relative_to(tests)}:{number}: {match.group(1)}")
    assert broken == []
