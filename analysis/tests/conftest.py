"""Fixtures: small run files made by running feddiff itself on tests/fed/tiny.ini.

FEDDIFF must name the feddiff binary (ctest sets it; MPIEXEC the mpirun, default mpirun). The
runs are made once per test session: udec on 2 ranks (per-client samples), full on 1 rank, and
central. Copies of the udec run get evaluation metrics added, in the two places the analysis
reads them from (the run file's /rounds, and /eval of a metrics.h5 beside it).
"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.dirname(HERE)
SOURCE = os.path.dirname(ANALYSIS)
TINY = os.path.join(SOURCE, "tests", "fed", "tiny.ini")


def feddiff_train(out, ranks, *sets):
    feddiff = os.environ.get("FEDDIFF")
    if not feddiff or not os.access(feddiff, os.X_OK):
        raise RuntimeError("set FEDDIFF to the feddiff binary (ctest does)")
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    cmd = [os.environ.get("MPIEXEC", "mpirun"), "-n", str(ranks), feddiff, "train",
           "--config", TINY, "--set", f"out.dir={out}"]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}")
    return os.path.join(out, "run.h5")


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    made = {
        "udec": feddiff_train(base / "udec", 2),
        "full": feddiff_train(base / "full", 1, "fed.method=full"),
        "central": feddiff_train(base / "central", 1, "fed.method=central"),
    }
    # The evaluation metrics in /rounds (NaN in rounds without an evaluation).
    shutil.copytree(base / "udec", base / "evaluated")
    path = str(base / "evaluated" / "run.h5")
    with h5py.File(path, "a") as f:
        n = f["rounds/round"].shape[0]
        every_other = lambda v: np.where(np.arange(n) % 2 == 1, v, np.nan)  # noqa: E731
        f["rounds/fid_cls"] = every_other(np.linspace(40.0, 10.0, n))
        f["rounds/kid_cls"] = every_other(np.linspace(0.05, 0.01, n))
        f["rounds/kid_cls_std"] = every_other(np.full(n, 0.002))
        f["rounds/label_fidelity"] = every_other(np.linspace(0.5, 0.2, n))
        c = f["clients/loss"].shape[1]
        f["clients/kid_cls"] = np.where(np.arange(n)[:, None] % 2 == 1,
                                        np.linspace(0.01, 0.03, c)[None, :], np.nan)
    made["evaluated"] = path
    # The same in a metrics.h5 beside the run file, under the names feddiff eval logs.
    shutil.copytree(base / "full", base / "logged")
    with h5py.File(base / "logged" / "metrics.h5", "w") as f:
        f["eval/round"] = np.array([2, 4])
        f["eval/fid_cls"] = np.array([30.0, 20.0])
        f["eval/kid_cls_mean"] = np.array([0.04, 0.02])
        f["eval/kid_cls_std"] = np.array([0.003, 0.001])
        f["eval/label_tv"] = np.array([0.4, 0.3])
    made["logged"] = str(base / "logged" / "run.h5")
    return made


def run_script(name, *args):
    """Run analysis/<name> as a command: (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, os.path.join(ANALYSIS, name), *map(str, args)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=dict(os.environ, MPLBACKEND="Agg"))
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def not_runs(tmp_path, runs):
    """Files that are not run files: missing, not HDF5, a checkpoint."""
    text = tmp_path / "notes.txt"
    text.write_text("not HDF5\n")
    checkpoint = sorted(f for f in os.listdir(os.path.dirname(runs["udec"]))
                        if f.startswith("checkpoint-"))[-1]
    return {"missing": (tmp_path / "nope.h5", "no such file"),
            "text": (text, "not an HDF5 file"),
            "checkpoint": (os.path.join(os.path.dirname(runs["udec"]), checkpoint),
                           "not a feddiff run file")}
