#!/usr/bin/python3
"""A table comparing feddiff runs: Markdown on stdout, and optionally as Markdown and CSV files.

    analysis/compare.py RUN.h5 [RUN.h5 ...] [--markdown FILE] [--csv FILE]

One row per run file (or out.dir holding run.h5), in the order given. Columns: run (its folder),
method, clients, rounds, last-round loss, MB moved (up + down), that as a fraction of what the
`full` run in the table moved (when there is one), seconds per round, and the last evaluation's
fid_cls, kid_cls and label fidelity (TV distance, 0 best). A metric a run does not hold is
"-" in Markdown and empty in CSV, with a note saying so. Needs h5py and NumPy (Debian's).
"""
import argparse
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from feddiff_run import Run, RunFileError  # noqa: E402

COLUMNS = [  # key, Markdown header, format
    ("run", "run", "{}"),
    ("method", "method", "{}"),
    ("clients", "clients", "{:d}"),
    ("rounds", "rounds", "{:d}"),
    ("loss", "loss", "{:.5f}"),
    ("mb", "MB moved", "{:.1f}"),
    ("vs_full", "vs full", "{:.2f}"),
    ("s_per_round", "s/round", "{:.2f}"),
    ("fid_cls", "fid_cls", "{:.3f}"),
    ("kid_cls", "kid_cls", "{:.5f}"),
    ("label_fidelity", "label fidelity", "{:.3f}"),
]
METRIC_KEYS = ("fid_cls", "kid_cls", "label_fidelity")


def row(run):
    loss = run.series("loss")
    seconds = run.series("seconds")
    r = {"run": run.name, "method": run.method, "clients": run.n_clients,
         "rounds": run.n_rounds, "loss": float(loss[-1]) if run.n_rounds else None,
         "mb": run.total_bytes() / 1e6,
         "s_per_round": float(np.nanmean(seconds)) if np.isfinite(seconds).any() else None}
    for m in METRIC_KEYS:
        found = run.metric(m)
        r[m] = float(found[1][-1]) if found else None
    return r


def table(runs):
    rows = [row(run) for run in runs]
    full = [r["mb"] for r in rows if r["method"] == "full" and r["mb"] > 0]
    for r in rows:
        r["vs_full"] = r["mb"] / full[0] if full else None
    return rows


def cell(value, fmt):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return fmt.format(value)


def markdown(rows):
    cols = [c for c in COLUMNS if c[0] != "vs_full" or any(r["vs_full"] is not None for r in rows)]
    lines = ["| " + " | ".join(c[1] for c in cols) + " |",
             "|" + "|".join("---" if c[0] in ("run", "method") else "---:" for c in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(r[k], fmt) for k, _, fmt in cols) + " |")
    return "\n".join(lines) + "\n"


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([k for k, _, _ in COLUMNS])
        for r in rows:
            w.writerow(["" if r[k] is None else r[k] for k, _, _ in COLUMNS])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", metavar="RUN.h5", help="run files (or out.dirs holding run.h5)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the Markdown table here")
    ap.add_argument("--csv", metavar="FILE", help="also write the table as CSV here")
    args = ap.parse_args(argv)
    try:
        runs = [Run(p) for p in args.runs]
    except RunFileError as e:
        print(f"compare.py: error: {e}", file=sys.stderr)
        return 1
    rows = table(runs)
    md = markdown(rows)
    sys.stdout.write(md)
    missing = [r["run"] for r in rows if all(r[m] is None for m in METRIC_KEYS)]
    if missing:
        print(f"\nnote: no evaluation metrics (fid_cls, kid_cls, label fidelity) in: {', '.join(missing)}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    if args.csv:
        write_csv(rows, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
