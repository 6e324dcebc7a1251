"""The documented copy of the default study (docs/study.md, "Write a study") says exactly what
data/studies/quick.toml says: a reader who copies it runs the main job's study, no more (an earlier copy
turned the proxies on where the real file does not)."""
import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_documented_quick_study_is_the_real_one():
    page = (ROOT / "docs" / "study.md").read_text()
    match = re.search(r"`data/studies/quick\.toml` is the default one.*?```toml\n(.*?)```", page, re.S)
    assert match, "docs/study.md no longer shows quick.toml"
    documented = tomllib.loads(match.group(1))
    real = tomllib.loads((ROOT / "data" / "studies" / "quick.toml").read_text())
    assert documented == real
