"""Each file format has one owner: a header that names its format, its
version and the datasets cellscape reads back (analysis/*_file.hpp,
study/summary_file.hpp). The schema the plots and users read
(docs/hdf5-schema.md) must say the same: its section for the format
carries the header's version, and every name the header declares appears
in that section. A renamed dataset or a new version that the document does
not follow fails here."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "libanalysis" / "cellscape"
SCHEMA = ROOT / "docs" / "hdf5-schema.md"

OWNERS = {
    "hessian": LIBRARY / "analysis" / "hessian_file.hpp",
    "gradient_variance": LIBRARY / "analysis" / "gradient_variance_file.hpp",
    "proxies": LIBRARY / "analysis" / "proxies_file.hpp",
    "surface": LIBRARY / "analysis" / "surface_file.hpp",
}


def constants(text):
    """name -> value of every `inline constexpr const char* name = "value";` and `inline constexpr int64_t name = N;`."""
    found = {}
    for name, value in re.findall(r'inline constexpr const char\* (\w+) = "([^"]*)";', text):
        found[name] = value
    for name, value in re.findall(r"inline constexpr int64_t (\w+) = (\d+);", text):
        found[name] = int(value)
    return found


def schema_sections():
    """format name -> (version, text of its section)."""
    text = SCHEMA.read_text()
    sections = {}
    headers = list(re.finditer(r"^## .*\(`format` = `([\w-]+)`, version (\d+)\)$", text, re.M))
    for i, header in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        sections[header.group(1)] = (int(header.group(2)), text[header.end():end])
    return sections


def test_every_owned_format_is_documented_with_its_version_and_names():
    sections = schema_sections()
    for kind, header in OWNERS.items():
        values = constants(header.read_text())
        fmt = values[f"{kind}_format"]
        version = values[f"{kind}_format_version"]
        assert fmt in sections, f"{header.name}: {fmt} has no section in docs/hdf5-schema.md"
        documented, section = sections[fmt]
        assert documented == version, (
            f"{header.name} writes {fmt} version {version}; docs/hdf5-schema.md documents version {documented}")
        names = {n: v for n, v in values.items() if isinstance(v, str) and n != f"{kind}_format"}
        assert names, f"{header.name} names no dataset"
        for name, value in names.items():
            assert value in section, (
                f"{header.name}: {name} = \"{value}\" is not in the {fmt} section of docs/hdf5-schema.md")


def test_the_study_summary_format_is_documented_with_its_version():
    values = constants((LIBRARY / "study" / "summary_file.hpp").read_text())
    documented, _ = schema_sections()[values["study_summary_format"]]
    assert documented == values["study_summary_format_version"]


def test_the_study_reads_analysis_files_only_through_their_owners():
    """No study source spells a dataset of an analysis file as a literal
    (the names that are not also metric or column names: paths inside a
    file, eigenvalues, the surface's grids)."""
    owned = set()
    for header in OWNERS.values():
        for name, value in constants(header.read_text()).items():
            if isinstance(value, str) and not name.endswith("_format") and (
                    "/" in value or value in ("eigenvalues", "xcoordinates", "ycoordinates", "completed")):
                owned.add(value)
    assert "parts/top_eigenvalue" in owned and "eigenvalues" in owned
    for source in sorted((LIBRARY / "study").glob("*.cpp")):
        text = source.read_text()
        for value in sorted(owned):
            assert f'"{value}"' not in text, f"{source.name} spells \"{value}\"; read it through its file's header"
