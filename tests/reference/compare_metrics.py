#!/usr/bin/python3
"""NumPy/SciPy reference test of feddiff's evaluation metrics.

Runs the C exporter (tests/reference/export_metrics.c) and recomputes, on the same feature
arrays, what feddiff computed:
  FID  = |mu_x - mu_y|^2 + tr(S_x + S_y - 2 sqrtm(S_x S_y)), with scipy.linalg.sqrtm (the
         usual pytorch-fid formula; feddiff uses symmetric eigendecompositions instead);
  KID  = unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 on the subsets feddiff drew (checked to
         be distinct indices in range), mean and standard deviation (ddof = 1) over subsets;
  label TV and per-class FID of fd_eval_compare (glyphs case).
A value passes when its relative error is at most 1e-3. KID means near zero (two samples of
one distribution) are compared relative to the size of the kernel terms that cancel in them.
Exit code 0 only if every value passes; a table of all of them is printed.

    compare_metrics.py EXPORTER WORKDIR
"""
import os
import subprocess
import sys

import h5py
import numpy as np
import scipy.linalg

TOLERANCE = 1e-3


def fid(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x, s_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s_x @ s_y)
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(s_x + s_y - 2 * root.real))


def mmd2(a, b):
    """Unbiased MMD^2 of rows a and b with the cubic polynomial kernel, and the mean k(a, b)."""
    d = a.shape[1]
    m = a.shape[0]
    kxx = (a @ a.T / d + 1) ** 3
    kyy = (b @ b.T / d + 1) ** 3
    kxy = (a @ b.T / d + 1) ** 3
    value = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
             - 2 * kxy.mean())
    return value, kxy.mean()


def main():
    exporter, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "metrics.h5")
    subprocess.run([exporter, path], check=True)
    failures = 0

    def check(label, value, ref, scale=None):
        nonlocal failures
        denom = max(abs(ref), scale if scale is not None else 0.0, 1e-300)
        err = abs(value - ref) / denom
        ok = err <= TOLERANCE
        failures += not ok
        print(f"{label:28s} feddiff {value: .9e}  reference {ref: .9e}  rel err {err:.2e}"
              f"  {'ok' if ok else 'FAIL'}")

    with h5py.File(path, "r") as f:
        for name in f:
            g = f[name]
            x, y = g["x"][()].astype(np.float64), g["y"][()].astype(np.float64)
            check(f"{name}: fid", g.attrs["fid"], fid(x, y))
            ix, iy = g["kid_ix"][()], g["kid_iy"][()]
            m = int(g.attrs["kid_size"])
            for idx, n in ((ix, len(x)), (iy, len(y))):
                if idx.shape != (int(g.attrs["kid_subsets"]), m) or idx.max() >= n or any(
                        len(set(row)) != m for row in idx):
                    print(f"FAIL: {name}: KID subsets are not distinct indices in range")
                    failures += 1
            values, scales = zip(*(mmd2(x[a], y[b]) for a, b in zip(ix, iy)))
            values = np.array(values)
            check(f"{name}: kid mean", g.attrs["kid_mean"], values.mean(), float(np.mean(scales)) * 1e-6)
            check(f"{name}: kid std", g.attrs["kid_std"], values.std(ddof=1))
            if "class_fid" in g:
                xl, xp, yl = g["x_labels"][()], g["x_predicted"][()], g["y_labels"][()]
                want = np.bincount(xl, minlength=10) / len(xl)
                got = np.bincount(xp, minlength=10) / len(xp)
                check(f"{name}: label_tv", g.attrs["label_tv"], 0.5 * np.abs(want - got).sum())
                check(f"{name}: cond_acc", g.attrs["cond_acc"], float(np.mean(xl == xp)))
                check(f"{name}: compare fid", g.attrs["compare_fid"], fid(x, y))
                for k, value in enumerate(g["class_fid"][()]):
                    check(f"{name}: class {k} fid", value, fid(x[xl == k], y[yl == k]))
    print(f"{failures} value(s) outside {TOLERANCE:g} relative")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
