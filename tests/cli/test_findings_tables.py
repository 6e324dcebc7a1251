"""docs/findings.md quotes its studies' tables as `cellscape study` prints them. Every quoted block is marked
with the summary it comes from (committed beside the page, docs/findings/<study>/summary.h5):

    <!-- table: verdicts | summary: docs/findings/powered/summary.h5 | epoch: 10 | population: normal-connections -->

and each of its rows must say what that summary's table says, to the printed digits: rho and its interval, p,
p_holm, min|rho|, the partial rho, the verdict (verdict tables), and a, b, a*b with its interval, the
proportion, the total, p, p_holm and the verdict (mediation tables). A number edited by hand, or a table
left behind when the statistics change, fails here."""
import math
import pathlib
import re

import h5py
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "findings.md"
MARK = re.compile(r"<!-- table: (\w+) \| summary: (\S+) \| epoch: (\d+) \| population: (\S+) -->\n```\n(.*?)```",
                  re.S)
NUMBER = r"[-+]?(?:\d+\.\d+(?:e[-+]\d+)?|\d+|inf)"
INTERVAL = rf"({NUMBER}) \[({NUMBER}|-), ({NUMBER}|-)\]\*?"


def read_table(path, group):
    with h5py.File(ROOT / path) as f:
        table = {}
        for name, dataset in f[group].items():
            values = dataset[()]
            table[name] = [v.decode() for v in values] if h5py.check_string_dtype(dataset.dtype) else values
    return table


def rows_where(table, **equal):
    n = len(next(iter(table.values())))
    return [{k: v[i] for k, v in table.items()} for i in range(n)
            if all(table[k][i] == value for k, value in equal.items())]


def agrees(printed, value):
    """The printed number is the value to the digits printed ("-": NaN)."""
    if printed == "-":
        return not np.isfinite(value)
    if not np.isfinite(value):
        return False
    if "e" in printed:
        mantissa, exponent = printed.split("e")
        digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return abs(float(printed) - value) <= 0.5 * 10 ** (int(exponent) - digits) * 1.0001
    digits = len(printed.split(".")[1]) if "." in printed else 0
    return abs(float(printed) - value) <= 0.5 * 10 ** -digits + 1e-12


def blocks():
    found = MARK.findall(PAGE.read_text())
    assert found, "docs/findings.md quotes no marked table"
    return found


def check_printed(pairs, row, label):
    """Each (printed, column) pair agrees with the row; a printed None (a group printed as "-") is a NaN."""
    for printed, name in pairs:
        if printed is None:
            assert not np.isfinite(row[name]), f"{label} {name}"
            continue
        assert agrees(printed, row[name]), f"{label} {name} is {row[name]}, printed {printed}"


@pytest.mark.parametrize("kind, summary, epoch, population, text", blocks())
def test_each_quoted_table_is_its_summary(kind, summary, epoch, population, text):
    assert (ROOT / summary).exists(), f"{summary} is not committed"
    lines = [line for line in text.splitlines()[1:] if line.strip() and line.strip() != "..."]
    assert lines
    if kind == "verdicts":
        table = read_table(summary, "associations")
        for line in lines:
            match = re.match(rf"(\w+)\s+(\d+)\s+{INTERVAL}\s+({NUMBER}|-)\s+({NUMBER}|-)\s+({NUMBER}|-)\s+(\S+)\s+"
                             rf"(?:{INTERVAL}|-)\s+(\S+)\s+(.+)$", line.strip())
            assert match, f"unreadable row: {line}"
            (metric, row_epoch, rho, low, high, p, p_holm, detectable, _, partial, partial_low, partial_high, _,
             verdict) = match.groups()
            assert int(row_epoch) == int(epoch)
            plain = rows_where(table, metric=metric, predictor="normal_width", controlling="",
                               population=population, epoch=int(epoch))
            held = rows_where(table, metric=metric, predictor="normal_width", controlling="normal_depth",
                              population=population, epoch=int(epoch))
            assert len(plain) == 1 and len(held) == 1, line
            row = plain[0]
            check_printed([(rho, "spearman_rho"), (low, "ci_low"), (high, "ci_high"), (p, "p_value"),
                           (p_holm, "p_holm"), (detectable, "min_detectable_rho")], row, f"{summary}: {metric}")
            if partial is not None:
                check_printed([(partial, "spearman_rho"), (partial_low, "ci_low"), (partial_high, "ci_high")],
                              held[0], f"{summary}: {metric} partial")
            assert verdict.strip() == row["verdict"], f"{summary}: {metric} verdict"
    elif kind == "mediation":
        table = read_table(summary, "mediation")
        for line in lines:
            match = re.match(rf"(\S+)\s+(\w+)\s+(\d+)\s+({NUMBER}|-)\s+({NUMBER}|-)\s+{INTERVAL}\s+(?:{INTERVAL}|-)\s+"
                             rf"({NUMBER})\s+({NUMBER}|-)\s+({NUMBER}|-)\s+([a-z ]+?)(?:\s+\(.*\))?$", line.strip())
            assert match, f"unreadable row: {line}"
            (row_population, mediator, row_epoch, a, b, indirect, low, high, proportion, proportion_low,
             proportion_high, total, p, p_holm, verdict) = match.groups()
            assert row_population == population and int(row_epoch) == int(epoch)
            rows = rows_where(table, mediator=mediator, population=population, epoch=int(epoch))
            assert len(rows) == 1, line
            row = rows[0]
            # A proportion printed as "-" leaves its three groups None.
            check_printed([(a, "a"), (b, "b"), (indirect, "indirect"), (low, "ci_low"), (high, "ci_high"),
                           (proportion, "proportion"), (proportion_low, "proportion_ci_low"),
                           (proportion_high, "proportion_ci_high"), (total, "total"), (p, "p_value"),
                           (p_holm, "p_holm")], row, f"{summary}: {mediator}")
            assert verdict.strip() == row["verdict"], f"{summary}: {mediator} verdict"
    else:
        pytest.fail(f"unknown table kind {kind}")


def test_a_changed_number_is_caught():
    """The check is not vacuous: a row with one digit changed disagrees."""
    kind, summary, epoch, population, text = blocks()[0]
    table = read_table(summary, "associations")
    row = rows_where(table, predictor="normal_width", controlling="", population=population, epoch=int(epoch))[0]
    printed = f"{row['spearman_rho']:+.2f}"
    assert agrees(printed, row["spearman_rho"])
    assert not agrees(f"{float(printed) + 0.01:+.2f}", row["spearman_rho"])
    assert not math.isnan(row["spearman_rho"])


RANK_MARK = re.compile(r"<!-- rank table: (\S+) \| value: (\S+) -->\n```\n(.*?)```", re.S)
RANK_ROW = re.compile(rf"^(\w+)\s+(\d+)\s+(?:{INTERVAL}|undefined)\s+({NUMBER}|-)\s+({NUMBER}|-)\s+"
                      rf"(?:{INTERVAL}|undefined)\s+({NUMBER}|-)\s+({NUMBER})/({NUMBER})$")


def test_every_quoted_rank_row_is_its_files_row():
    # The `cellscape rank` tables this page quotes, each row against the committed rank file.
    found = RANK_MARK.findall(PAGE.read_text())
    assert found, "docs/findings.md quotes no rank table"
    for path, value, block in found:
        table = read_table(path, "associations")
        for line in block.strip().splitlines()[1:]:
            match = RANK_ROW.match(line.strip())
            assert match, f"not a rank row: {line}"
            (metric, cells, rho, low, high, p_holm, tau, partial, partial_low, partial_high, partial_holm,
             overlap, chance) = match.groups()
            (row,) = rows_where(table, metric=metric, value=value)
            assert int(cells) == row["cells"], line
            checks = [(rho, row["rho"]), (low, row["ci_low"]), (high, row["ci_high"]), (p_holm, row["p_holm"]),
                      (tau, row["kendall_tau"]), (partial_holm, row["partial_p_holm"]),
                      (overlap, row["top_overlap"]), (chance, row["top_chance"])]
            if partial is None:
                assert not np.isfinite(row["partial_rho"]), line
            else:
                checks += [(partial, row["partial_rho"]), (partial_low, row["partial_ci_low"]),
                           (partial_high, row["partial_ci_high"])]
            for printed, stored in checks:
                if printed is not None:
                    assert agrees(printed, stored), f"{line}: {printed} is not {stored}"
