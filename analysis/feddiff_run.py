"""Reading feddiff run files (run.h5) for analysis/report.py and analysis/compare.py.

A run file (format attribute "feddiff-run") holds one row per completed round in /rounds/<field>
and one [round][client] row in /clients/<field>; docs/FORMAT.md describes it. Evaluation metrics
are looked up where feddiff writes them, in this order: the run file's /rounds and /clients, its
/eval group, and the /eval group of metrics.h5 beside it; rounds without an evaluation are NaN
or absent. A metric found nowhere is reported as missing, never guessed.
"""
import configparser
import os

import h5py
import numpy as np

FORMAT = "feddiff-run"

# Metric -> the dataset names it may be stored under, preferred first.
METRICS = {
    "fid_cls": ("fid_cls",),
    "kid_cls": ("kid_cls", "kid_cls_mean"),
    "kid_cls_std": ("kid_cls_std", "kid_std"),
    "label_fidelity": ("label_fidelity", "label_tv"),
}
METRIC_TITLES = {
    "fid_cls": "fid_cls (FID, classifier features)",
    "kid_cls": "kid_cls (KID, classifier features)",
    "label_fidelity": "label fidelity (TV distance, 0 best)",
}


class RunFileError(Exception):
    """A file that is missing, not HDF5, or not a feddiff run file: a one-line message."""


def text(value):
    """An HDF5 string attribute as str (h5py gives bytes for fixed-length strings)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return text(value[()])
    return str(value)


class Run:
    """The contents of one run file, read eagerly (they are small: one row per round)."""

    def __init__(self, path):
        self.path = path
        if not os.path.exists(path):
            raise RunFileError(f"{path}: no such file")
        if os.path.isdir(path):
            candidate = os.path.join(path, "run.h5")
            if not os.path.exists(candidate):
                raise RunFileError(f"{path}: a directory without run.h5")
            self.path = path = candidate
        try:
            f = h5py.File(path, "r")
        except OSError:
            raise RunFileError(f"{path}: not an HDF5 file, or not readable") from None
        with f:
            fmt = text(f.attrs.get("format", ""))
            if fmt != FORMAT:
                found = f"format attribute '{fmt}'" if fmt else "no format attribute"
                raise RunFileError(f"{path}: not a feddiff run file ({found}, expected '{FORMAT}')")
            self.method = text(f.attrs.get("method", "?"))
            self.n_clients = int(f.attrs.get("n_clients", 0))
            self.version = text(f.attrs.get("feddiff_version", "?"))
            self.format_version = int(f.attrs.get("format_version", 0))
            self.config_text = text(f.attrs.get("config", ""))
            self.rounds = {k: np.asarray(v[()], dtype=float) for k, v in f["rounds"].items()
                           if isinstance(v, h5py.Dataset)} if "rounds" in f else {}
            self.clients = {k: np.asarray(v[()], dtype=float) for k, v in f["clients"].items()
                            if isinstance(v, h5py.Dataset)} if "clients" in f else {}
            self.units = {f"rounds/{k}": text(v.attrs.get("units", ""))
                          for k, v in f.get("rounds", {}).items()}
            self._eval_groups = [self._read_eval(f, path)]
        sibling = os.path.join(os.path.dirname(path), "metrics.h5")
        if os.path.exists(sibling):
            try:
                with h5py.File(sibling, "r") as m:
                    self._eval_groups.append(self._read_eval(m, sibling))
            except OSError:
                pass  # an unreadable metrics file is reported as missing metrics
        self.config = configparser.ConfigParser(interpolation=None)
        try:
            self.config.read_string(self.config_text)
        except configparser.Error:
            pass
        if "round" not in self.rounds:
            raise RunFileError(f"{path}: no /rounds/round dataset: not a complete run file")

    @staticmethod
    def _read_eval(f, path):
        if "eval" not in f or not isinstance(f["eval"], h5py.Group):
            return None
        g = f["eval"]
        return {"source": f"{path}:/eval",
                "data": {k: np.asarray(v[()], dtype=float) for k, v in g.items()
                         if isinstance(v, h5py.Dataset) and v.ndim == 1}}

    @property
    def name(self):
        """The run's folder name (out.dir), which sweeps and scaling jobs make unique."""
        return os.path.basename(os.path.dirname(os.path.abspath(self.path))) or self.path

    @property
    def n_rounds(self):
        return len(self.rounds["round"])

    def get(self, key, default=None):
        section, _, option = key.partition(".")
        return self.config.get(section, option, fallback=default)

    def series(self, field):
        """A /rounds field, or an all-NaN series if this version of feddiff does not write it."""
        return self.rounds.get(field, np.full(self.n_rounds, np.nan))

    def metric(self, name):
        """(rounds, values, source) of an evaluation metric, NaN rows dropped; None if absent."""
        names = METRICS.get(name, (name,))
        for n in names:
            if n in self.rounds:
                return self._finite(self.rounds["round"], self.rounds[n], f"{self.path}:/rounds/{n}")
        for group in self._eval_groups:
            if group is None or "round" not in group["data"]:
                continue
            for n in names:
                if n in group["data"]:
                    return self._finite(group["data"]["round"], group["data"][n], group["source"])
        return None

    @staticmethod
    def _finite(rounds, values, source):
        keep = np.isfinite(values)
        if not keep.any():
            return None
        return rounds[keep], values[keep], source

    def client_metric(self, name):
        """[rounds][clients] of a per-client metric (/clients/<name>), or None."""
        for n in METRICS.get(name, (name,)):
            if n in self.clients and np.isfinite(self.clients[n]).any():
                return self.clients[n]
        return None

    def total_bytes(self):
        return float(np.nansum(self.series("bytes_up")) + np.nansum(self.series("bytes_down")))


def samples_file(run_path, explicit=None):
    """samples.h5 beside the run file (or the explicit one), if it exists."""
    path = explicit or os.path.join(os.path.dirname(os.path.abspath(run_path)), "samples.h5")
    return path if os.path.exists(path) else None
