#!/usr/bin/python3
"""Compare the tensors of two feddiff checkpoints (/model, /ema, /clients/*, /server/*).

    compare_checkpoints.py A.h5 B.h5 --exact        every tensor bitwise equal
    compare_checkpoints.py A.h5 B.h5 --rtol 1e-5    every tensor within ||a - b|| / ||a|| <= rtol

Prints the worst tensor; exit code 0 only if every tensor of A is in B and passes."""
import argparse
import sys

import h5py
import numpy as np


def tensors(f):
    out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split("/")[0] in ("model", "ema", "clients", "server"):
            out[name] = obj[()]
    f.visititems(visit)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--exact", action="store_true")
    mode.add_argument("--rtol", type=float)
    args = ap.parse_args()
    with h5py.File(args.a, "r") as fa, h5py.File(args.b, "r") as fb:
        ta, tb = tensors(fa), tensors(fb)
    if not ta:
        print(f"FAIL: {args.a} holds no tensors")
        return 1
    if set(ta) != set(tb):
        print(f"FAIL: tensors differ: {sorted(set(ta) ^ set(tb))[:5]}")
        return 1
    worst, worst_name, bad = 0.0, "", []
    for name, a in ta.items():
        b = tb[name]
        if a.shape != b.shape:
            bad.append(name)
            continue
        if args.exact:
            err = 0.0 if np.array_equal(a, b) else 1.0
        else:
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            norm = np.linalg.norm(a64)
            err = np.linalg.norm(a64 - b64) / (norm if norm > 0 else 1.0)
        if err > worst:
            worst, worst_name = err, name
        if err > (0.0 if args.exact else args.rtol):
            bad.append(name)
    print(f"{len(ta)} tensors; worst {worst:.3e} ({worst_name or '-'})")
    if bad:
        print(f"FAIL: {len(bad)} tensor(s) differ, e.g. {bad[0]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
