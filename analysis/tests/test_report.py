"""analysis/report.py on run files that feddiff wrote."""
import os

import h5py
import matplotlib.image
import pytest

from conftest import ANALYSIS, run_script

import sys

sys.path.insert(0, ANALYSIS)
import report  # noqa: E402

ALWAYS = ["loss.png", "bytes.png", "timing.png"]


def png_ok(path):
    img = matplotlib.image.imread(path)
    return img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 0


def test_federated_run(runs, tmp_path):
    rc, out, err = run_script("report.py", runs["udec"], "-o", tmp_path)
    assert rc == 0, err
    for name in ALWAYS + ["client_loss.png", "samples.png"]:
        assert png_ok(tmp_path / name), name
        assert f"({name})" in (tmp_path / "report.md").read_text()
    # No evaluation in this run: said, not plotted, not an error.
    assert not (tmp_path / "metrics.png").exists()
    assert "note: no evaluation metrics" in out
    assert "no metrics.png" in (tmp_path / "report.md").read_text()


def test_report_md_numbers(runs, tmp_path):
    assert run_script("report.py", runs["udec"], "-o", tmp_path)[0] == 0
    with h5py.File(runs["udec"], "r") as f:
        rounds = f["rounds/round"].shape[0]
        loss = f["rounds/loss"][-1]
        mb = (f["rounds/bytes_up"][()].sum() + f["rounds/bytes_down"][()].sum()) / 1e6
    md = (tmp_path / "report.md").read_text()
    assert f"{rounds} rounds" in md
    assert f"{loss:.5f}" in md
    assert f"{mb:.1f} MB" in md


@pytest.mark.parametrize("which", ["evaluated", "logged"])
def test_metrics_plotted_when_present(runs, tmp_path, which):
    rc, out, err = run_script("report.py", runs[which], "-o", tmp_path)
    assert rc == 0, err
    assert png_ok(tmp_path / "metrics.png")
    assert "no evaluation metrics" not in out
    # Per-client KID only in the first (the run file's /clients/kid_cls).
    assert (tmp_path / "client_metrics.png").exists() == (which == "evaluated")
    if which == "evaluated":
        assert png_ok(tmp_path / "client_metrics.png")


def test_central_run(runs, tmp_path):
    rc, out, err = run_script("report.py", os.path.dirname(runs["central"]), "-o", tmp_path)
    assert rc == 0, err
    for name in ALWAYS + ["samples.png"]:
        assert png_ok(tmp_path / name), name
    assert not (tmp_path / "client_loss.png").exists()
    assert "one client" in out


def test_sample_rows_per_client(runs):
    with h5py.File(os.path.join(os.path.dirname(runs["udec"]), "samples.h5"), "r") as f:
        clients = f["clients"][()]
    groups = report.sample_groups(clients)
    assert [name for name, _ in groups] == [f"client {c}" for c in sorted(set(clients))]
    assert sum(len(idx) for _, idx in groups) == len(clients)
    assert report.sample_groups(None)[0][0] == "global model"


def test_missing_samples_is_a_note(runs, tmp_path):
    rc, out, _ = run_script("report.py", runs["udec"], "-o", tmp_path, "--samples", tmp_path / "none.h5")
    assert rc == 0
    assert not (tmp_path / "samples.png").exists()
    assert "no samples.png" in out


@pytest.mark.parametrize("case", ["missing", "text", "checkpoint"])
def test_not_a_run_file(not_runs, tmp_path, case):
    path, message = not_runs[case]
    rc, out, err = run_script("report.py", path, "-o", tmp_path / "out")
    assert rc == 1
    assert str(path) in err and message in err
    assert not (tmp_path / "out").exists()


def test_help_and_usage():
    rc, out, _ = run_script("report.py", "--help")
    assert rc == 0 and "RUN.h5" in out and "-o DIR" in out
    rc, _, err = run_script("report.py", "run.h5")  # no -o
    assert rc == 2 and "-o" in err
