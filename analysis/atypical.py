#!/usr/bin/python3
"""Share of generated images that no real image resembles in ink and grey: blobs and grey fog.

A DDPM that has not learned enough draws, besides strokes, filled blobs and fields of mid-grey
noise. This counts them against the real training images: per image, its ink (share of pixels
above half intensity) and its grey (share of pixels between a quarter and three quarters of
it). An image is atypical when either lies above the --quantile (default 0.99) of the real
images' values, so about 2% of real images count as atypical themselves. It reads samples.h5
(docs/FORMAT.md), reports the share overall and per client (for methods whose clients keep
parts), and with --max-share exits 1 when the overall share is above it.

    analysis/atypical.py runs/mnist-full/samples.h5 [--reference data/mnist/train-images-idx3-ubyte]
"""
import argparse
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REFERENCE = os.path.join(os.path.dirname(HERE), "data", "mnist", "train-images-idx3-ubyte")
INK, GREY_LOW, GREY_HIGH = 0.5, 0.25, 0.75


class InputError(Exception):
    """A file that is missing or not what it should be: a one-line message."""


def read_idx_images(path):
    """[n][h][w] intensities in [0, 1] from an IDX image file (unsigned bytes, 3 dimensions)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if len(raw) < 16 or raw[:4] != b"\x00\x00\x08\x03":
        raise InputError(f"{path}: not an IDX file of unsigned-byte images (magic 0x00000803)")
    n, h, w = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    if len(raw) != 16 + n * h * w:
        raise InputError(f"{path}: truncated or padded: {len(raw)} bytes, the header says {16 + n * h * w}")
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w) / 255.0


def read_samples(path):
    """(images [n][h][w] in [0, 1], clients [n] or None) from a feddiff samples file."""
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise InputError(f"{path}: no such file, or not HDF5") from None
    with f:
        if "samples" not in f:
            raise InputError(f"{path}: no /samples dataset (not a feddiff samples file)")
        x = f["samples"][()]
        clients = f["clients"][()] if "clients" in f else None
    if x.ndim != 4 or x.shape[3] != 1:
        raise InputError(f"{path}: /samples has shape {x.shape}, not [n][h][w][1] greyscale images")
    return (np.clip(x[..., 0], -1, 1) + 1) / 2, clients


def ink_and_grey(images):
    """Per image, the share of ink pixels and of mid-grey pixels."""
    ink = (images > INK).mean(axis=(1, 2))
    grey = ((images > GREY_LOW) & (images < GREY_HIGH)).mean(axis=(1, 2))
    return ink, grey


def thresholds(reference, quantile):
    ink, grey = ink_and_grey(reference)
    return float(np.quantile(ink, quantile)), float(np.quantile(grey, quantile))


def atypical(images, limits):
    """Boolean [n]: the images whose ink or grey share is above the limits."""
    ink, grey = ink_and_grey(images)
    return (ink > limits[0]) | (grey > limits[1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("samples", nargs="+", help="samples.h5 files (feddiff train or feddiff sample)")
    ap.add_argument("--reference", default=DEFAULT_REFERENCE,
                    help="IDX file of the real training images (default: MNIST's in data/mnist)")
    ap.add_argument("--quantile", type=float, default=0.99,
                    help="quantile of the real images' ink and grey shares that bounds a typical image")
    ap.add_argument("--max-share", type=float, default=None,
                    help="exit 1 when a file's overall share of atypical images is above this")
    ap.add_argument("--per-client", action="store_true", help="a line for each client's images too")
    args = ap.parse_args(argv)
    if not 0 < args.quantile < 1:
        ap.error("--quantile must lie in (0, 1)")
    try:
        reference = read_idx_images(args.reference)
        limits = thresholds(reference, args.quantile)
        real_share = float(atypical(reference, limits).mean())
        print(f"reference {args.reference}: {len(reference)} images; typical up to ink {limits[0]:.3f}, "
              f"grey {limits[1]:.3f} (quantile {args.quantile}); {100 * real_share:.1f}% of them atypical")
        failed = False
        for path in args.samples:
            images, clients = read_samples(path)
            if images.shape[1:] != reference.shape[1:]:
                raise InputError(f"{path}: images of {images.shape[1]}x{images.shape[2]}, the reference's are "
                                 f"{reference.shape[1]}x{reference.shape[2]}")
            flags = atypical(images, limits)
            share = float(flags.mean())
            print(f"{path}: {int(flags.sum())} of {len(flags)} atypical ({100 * share:.1f}%)")
            if args.per_client and clients is not None and (clients >= 0).any():
                for c in dict.fromkeys(clients.tolist()):
                    mine = flags[clients == c]
                    print(f"  client {c}: {int(mine.sum())} of {len(mine)} ({100 * mine.mean():.0f}%)")
            if args.max_share is not None and share > args.max_share:
                print(f"{path}: FAIL: {100 * share:.1f}% atypical, more than --max-share {100 * args.max_share:.1f}%")
                failed = True
    except InputError as e:
        print(f"atypical.py: {e}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
