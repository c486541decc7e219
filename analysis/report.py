#!/usr/bin/python3
"""Plots of one feddiff run: PNG files in DIR, and DIR/report.md that shows them.

    analysis/report.py RUN.h5 -o DIR [--samples SAMPLES.h5]

RUN.h5 is the run file in out.dir (a folder holding run.h5 works too). Writes
  loss.png         mean training loss per round (and its moving average)
  client_loss.png  per-client loss: the spread over the round's clients, and every client's rows
  bytes.png        cumulative bytes up, down and in all
  timing.png       seconds per round, split into broadcast, training, waiting, reduce, server
  metrics.png      fid_cls, kid_cls (+- std) and label fidelity per evaluated round
  client_metrics.png  each client's kid_cls and label fidelity at the last evaluation
  samples.png      the sample grid of samples.h5 (beside the run file), one row per client
A figure whose data the run does not hold (no evaluation metrics yet, one client, no samples)
is skipped with a note on stdout and in report.md. Needs h5py, NumPy, matplotlib (Debian's).
"""
import argparse
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from feddiff_run import METRIC_TITLES, Run, RunFileError, samples_file, text  # noqa: E402

DPI = 110


def title(run, what):
    return f"{run.name}: {what} ({run.method}, {run.n_clients} clients)"


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def rounds_axis(ax):
    ax.set_xlabel("round")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def finish(fig, ax, run, ylabel, what, out, name, **legend):
    """Label a one-panel figure per round and save it as out/name."""
    rounds_axis(ax)
    ax.set_ylabel(ylabel)
    ax.set_title(title(run, what))
    ax.grid(alpha=0.3)
    ax.legend(**legend)
    fig.tight_layout()
    return save(fig, out, name)


def moving_average(y, k):
    if len(y) < 2 * k:
        return None
    kernel = np.ones(k) / k
    return np.convolve(y, kernel, mode="valid"), k - 1


def plot_loss(run, out):
    r, loss = run.rounds["round"], run.series("loss")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(r, loss, lw=1, alpha=0.6 if len(r) > 20 else 1, marker="" if len(r) > 40 else ".",
            label="round mean over clients")
    k = max(3, len(r) // 15)  # only for long runs: a short one is readable as it is
    avg = moving_average(loss, k) if len(r) >= 30 else None
    if avg is not None:
        ax.plot(r[avg[1]:], avg[0], lw=2, label=f"moving average ({k} rounds)")
    ax.set_yscale("log")
    return finish(fig, ax, run, "DDPM training loss (log scale)", "training loss", out, "loss.png")


def plot_client_loss(run, out):
    loss = run.clients.get("loss")
    if loss is None or run.n_clients < 2 or not np.isfinite(loss).any():
        return None, "one client, or no per-client losses: no client_loss.png"
    r = run.rounds["round"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1, 1.2]})
    sampled = np.isfinite(loss)
    rows = sampled.any(axis=1)
    with np.errstate(all="ignore"):
        q = np.nanpercentile(loss[rows], [0, 25, 50, 75, 100], axis=1)
    rr = r[rows]
    a.fill_between(rr, q[0], q[4], alpha=0.2, label="min - max")
    a.fill_between(rr, q[1], q[3], alpha=0.4, label="25% - 75%")
    a.plot(rr, q[2], lw=1.5, label="median")
    a.set_yscale("log")
    rounds_axis(a)
    a.set_ylabel("client's mean loss in the round (log)")
    a.set_title("spread over the round's sampled clients")
    a.grid(alpha=0.3)
    a.legend()
    finite = loss[sampled]
    im = b.imshow(loss.T, aspect="auto", origin="lower", interpolation="nearest",
                  extent=(r[0] - 0.5, r[-1] + 0.5, -0.5, run.n_clients - 0.5),
                  norm=matplotlib.colors.LogNorm(vmin=finite.min(), vmax=finite.max()))
    rounds_axis(b)
    b.set_ylabel("client")
    b.set_title("every client (blank: not sampled)")
    fig.colorbar(im, ax=b, label="loss")
    fig.suptitle(title(run, "per-client loss"))
    fig.tight_layout()
    return save(fig, out, "client_loss.png"), None


def plot_bytes(run, out):
    r = run.rounds["round"]
    up = np.cumsum(np.nan_to_num(run.series("bytes_up"))) / 1e6
    down = np.cumsum(np.nan_to_num(run.series("bytes_down"))) / 1e6
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(r, up + down, lw=2, label=f"total {up[-1] + down[-1]:.1f} MB")
    ax.plot(r, up, lw=1.5, label=f"up (clients to server) {up[-1]:.1f} MB")
    ax.plot(r, down, lw=1.5, ls="--", label=f"down (server to clients) {down[-1]:.1f} MB")
    return finish(fig, ax, run, "cumulative MB (float32 values)", "communication", out, "bytes.png")


TIMING = [("t_bcast", "broadcast"), ("t_train", "local training"), ("t_wait", "waiting (imbalance)"),
          ("t_reduce", "reduce"), ("t_server", "server update")]


def plot_timing(run, out):
    r = run.rounds["round"]
    parts = [(label, np.nan_to_num(run.series(f))) for f, label in TIMING if f in run.rounds]
    if not parts:
        return None, "no per-round timings: no timing.png"
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.stackplot(r, *[p[1] for p in parts], labels=[p[0] for p in parts], alpha=0.8)
    ax.plot(r, run.series("seconds"), color="k", lw=1, label="round (wall clock)")
    return finish(fig, ax, run, "seconds (mean over ranks)", "time per round", out, "timing.png",
                  fontsize=8, loc="upper right"), None


def plot_metrics(run, out):
    found = {m: run.metric(m) for m in METRIC_TITLES}
    found = {m: v for m, v in found.items() if v is not None}
    if not found:
        return None, ("no evaluation metrics (fid_cls, kid_cls, label fidelity) in the run file "
                      "or a metrics.h5 beside it: no metrics.png")
    fig, axes = plt.subplots(1, len(found), figsize=(4.2 * len(found), 3.8), squeeze=False)
    for ax, (m, (r, v, source)) in zip(axes[0], found.items()):
        ax.plot(r, v, marker="o", lw=1.5)
        std = run.metric("kid_cls_std") if m == "kid_cls" else None
        if std is not None and len(std[1]) == len(v) and np.array_equal(std[0], r):
            ax.fill_between(r, v - std[1], v + std[1], alpha=0.25, label="+- std over subsets")
            ax.legend(fontsize=8)
        rounds_axis(ax)
        ax.set_title(METRIC_TITLES[m], fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(title(run, "evaluation"))
    fig.tight_layout()
    return save(fig, out, "metrics.png"), None


CLIENT_METRICS = ("kid_cls", "label_fidelity")


def plot_client_metrics(run, out):
    found = {m: run.client_metric(m) for m in CLIENT_METRICS}
    found = {m: v for m, v in found.items() if v is not None}
    if not found:
        return None, "no per-client evaluation (/clients/kid_cls, label fidelity): no client_metrics.png"
    fig, axes = plt.subplots(1, len(found), figsize=(5.5 * len(found), 3.8), squeeze=False)
    for ax, (m, values) in zip(axes[0], found.items()):
        row = int(np.flatnonzero(np.isfinite(values).any(axis=1))[-1])  # the last evaluation
        v = values[row]
        ax.bar(np.arange(len(v)), np.nan_to_num(v), color="tab:blue")
        ax.axhline(np.nanmean(v), color="k", lw=1, ls="--", label=f"mean {np.nanmean(v):.4g}")
        ax.set_xlabel("client")
        ax.set_title(f"{METRIC_TITLES[m]}, round {int(run.rounds['round'][row])}", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title(run, "evaluation per client"))
    fig.tight_layout()
    return save(fig, out, "client_metrics.png"), None


def sample_groups(clients, n=0):
    """[(row name, sample indices)]: a row per client in order of appearance, or one row."""
    if clients is not None and (np.asarray(clients) >= 0).any():
        clients = np.asarray(clients)
        return [(f"client {c}", np.flatnonzero(clients == c)) for c in dict.fromkeys(clients.tolist())]
    return [("global model", np.arange(n))]


def plot_samples(run, out, explicit):
    path = samples_file(run.path, explicit)
    if path is None:
        return None, "no samples.h5 beside the run file: no samples.png"
    try:
        with h5py.File(path, "r") as f:
            x = f["samples"][()]
            labels = f["labels"][()] if "labels" in f else None
            clients = f["clients"][()] if "clients" in f else None
            sampler = text(f.attrs.get("sampler", ""))
    except (OSError, KeyError) as e:
        return None, f"{path}: cannot read samples ({e}): no samples.png"
    n = x.shape[0]
    images = (np.clip(x[..., 0] if x.ndim == 4 else x, -1, 1) + 1) / 2
    groups = sample_groups(clients, n)
    cols = max(len(idx) for _, idx in groups)
    fig, axes = plt.subplots(len(groups), cols, figsize=(max(3.5, 1.1 * cols + 1.2), 1.25 * len(groups) + 0.8),
                             squeeze=False)
    for row, (name, idx) in enumerate(groups):
        for col in range(cols):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(idx):
                ax.axis("off")
                continue
            ax.imshow(images[idx[col]], cmap="gray", vmin=0, vmax=1)
            if labels is not None and labels[idx[col]] >= 0:
                ax.set_title(str(labels[idx[col]]), fontsize=8, pad=2)
            if col == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle(f"{run.name}: samples ({run.method})\n{sampler + ', ' if sampler else ''}"
                 "class above each", fontsize=9)
    fig.tight_layout()
    return save(fig, out, "samples.png"), None


def write_index(run, out, figures, notes):
    loss = run.series("loss")
    lines = [f"# {run.name}", "",
             f"`{run.path}`: method {run.method}, {run.n_clients} clients, {run.n_rounds} rounds, "
             f"feddiff {run.version}.", "",
             f"- last round's loss: {loss[-1]:.5f}" if run.n_rounds else "- no rounds",
             f"- bytes moved: {run.total_bytes() / 1e6:.1f} MB",
             f"- time: {np.nansum(run.series('seconds')):.1f} s in the rounds", ""]
    for name, caption in figures:
        lines += [f"## {caption}", "", f"![{caption}]({name})", ""]
    if notes:
        lines += ["## Not plotted", ""] + [f"- {n}" for n in notes] + [""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="Figures: loss, client_loss, bytes, timing, metrics, client_metrics, samples.")
    ap.add_argument("run", metavar="RUN.h5", help="the run file (or the out.dir that holds run.h5)")
    ap.add_argument("-o", "--out", metavar="DIR", required=True, help="folder for the PNG files")
    ap.add_argument("--samples", metavar="FILE", help="samples file (default: samples.h5 beside RUN.h5)")
    args = ap.parse_args(argv)
    try:
        run = Run(args.run)
    except RunFileError as e:
        print(f"report.py: error: {e}", file=sys.stderr)
        return 1
    if run.n_rounds == 0:
        print(f"report.py: error: {run.path}: no completed rounds to plot", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    figures, notes = [], []

    def add(result, caption):
        path, note = result if isinstance(result, tuple) else (result, None)
        if path:
            figures.append((os.path.basename(path), caption))
            print(f"wrote {path}")
        if note:
            notes.append(note)
            print(f"note: {note}")

    add(plot_loss(run, args.out), "Training loss per round")
    add(plot_client_loss(run, args.out), "Per-client loss")
    add(plot_bytes(run, args.out), "Cumulative communication")
    add(plot_timing(run, args.out), "Time per round")
    add(plot_metrics(run, args.out), "Evaluation metrics")
    add(plot_client_metrics(run, args.out), "Evaluation per client")
    add(plot_samples(run, args.out, args.samples), "Samples")
    write_index(run, args.out, figures, notes)
    print(f"wrote {os.path.join(args.out, 'report.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
