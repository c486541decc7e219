"""analysis/compare.py on run files that feddiff wrote."""
import csv

import h5py
import numpy as np
import pytest

from conftest import run_script


def md_rows(text):
    """The Markdown table as a list of dicts (header -> cell)."""
    lines = [l for l in text.splitlines() if l.startswith("|")]
    cells = [[c.strip() for c in l.strip("|").split("|")] for l in lines]
    return [dict(zip(cells[0], r)) for r in cells[2:]]


def expected(path):
    with h5py.File(path, "r") as f:
        r = f["rounds"]
        return {"rounds": r["round"].shape[0], "loss": r["loss"][-1],
                "mb": (r["bytes_up"][()].sum() + r["bytes_down"][()].sum()) / 1e6,
                "s": np.mean(r["seconds"][()]), "method": f.attrs["method"].decode()}


def test_table_matches_the_run_files(runs, tmp_path):
    paths = [runs["full"], runs["udec"], runs["central"]]
    rc, out, err = run_script("compare.py", *paths, "--markdown", tmp_path / "t.md",
                              "--csv", tmp_path / "t.csv")
    assert rc == 0, err
    rows = md_rows(out)
    assert [r["run"] for r in rows] == ["full", "udec", "central"]
    for row, path in zip(rows, paths):
        e = expected(path)
        assert row["method"] == e["method"]
        assert int(row["rounds"]) == e["rounds"]
        assert row["loss"] == f"{e['loss']:.5f}"
        assert row["MB moved"] == f"{e['mb']:.1f}"
        assert row["s/round"] == f"{e['s']:.2f}"
        for m in ("fid_cls", "kid_cls", "label fidelity"):
            assert row[m] == "-"
    # Communication relative to the full run: 1 for itself, less for udec (it keeps parts).
    assert rows[0]["vs full"] == "1.00"
    assert 0 < float(rows[1]["vs full"]) < 1
    assert "note: no evaluation metrics" in out
    assert (tmp_path / "t.md").read_text() in out

    with open(tmp_path / "t.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["method"] for r in table] == ["full", "udec", "central"]
    for row, path in zip(table, paths):
        e = expected(path)
        assert int(row["rounds"]) == e["rounds"]
        assert float(row["mb"]) == pytest.approx(e["mb"])
        assert row["fid_cls"] == "" and row["kid_cls"] == "" and row["label_fidelity"] == ""


def test_no_full_run_no_ratio(runs):
    rc, out, _ = run_script("compare.py", runs["udec"])
    assert rc == 0
    assert "vs full" not in out


def test_metrics_are_the_last_evaluation(runs, tmp_path):
    rc, out, err = run_script("compare.py", runs["evaluated"], runs["logged"], "--csv", tmp_path / "m.csv")
    assert rc == 0, err
    with h5py.File(runs["evaluated"], "r") as f:
        fid = f["rounds/fid_cls"][()]
        last_fid = fid[np.isfinite(fid)][-1]
    rows = md_rows(out)
    assert rows[0]["fid_cls"] == f"{last_fid:.3f}"
    # metrics.h5 beside the run file, under feddiff eval's names (kid_cls_mean, label_tv).
    assert (rows[1]["fid_cls"], rows[1]["kid_cls"], rows[1]["label fidelity"]) == ("20.000", "0.02000", "0.300")
    assert "no evaluation metrics" not in out
    with open(tmp_path / "m.csv") as f:
        table = list(csv.DictReader(f))
    assert float(table[1]["kid_cls"]) == pytest.approx(0.02)


@pytest.mark.parametrize("case", ["missing", "text", "checkpoint"])
def test_not_a_run_file(runs, not_runs, case):
    path, message = not_runs[case]
    rc, out, err = run_script("compare.py", runs["udec"], path)
    assert rc == 1
    assert str(path) in err and message in err
    assert out == ""


def test_help():
    rc, out, _ = run_script("compare.py", "--help")
    assert rc == 0 and "--csv" in out and "--markdown" in out
