#!/usr/bin/python3
"""A feddiff checkpoint loads into the PyTorch UNet of tests/reference/unet.py by name.

Builds the PyTorch model from the attributes of the checkpoint's /model group, loads /model and
/ema with load_state_dict(strict=True) (every name present on both sides, every shape equal),
and checks the loaded tensors equal the file's bit for bit. Exit code 0 only if all holds.

    load_checkpoint.py CHECKPOINT.h5 [EXPECTED_BACKBONE_PARAMETERS]
"""
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet import UNet  # noqa: E402


def model_from_attrs(attrs):
    kind = attrs["kind"]
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind != "unet":
        raise SystemExit(f"FAIL: model kind {kind!r} is not a UNet")
    levels = int(attrs["n_levels"])
    mask = int(attrs["attention_levels"])
    return UNet(in_channels=int(attrs["in_channels"]), width=int(attrs["width"]),
                mults=tuple(int(attrs[f"mult{l}"]) for l in range(levels)),
                res_blocks=int(attrs["res_blocks"]),
                attention_levels=tuple(l for l in range(levels) if mask >> l & 1),
                groups=int(attrs["groups"]), time_dim=int(attrs["time_dim"]),
                emb_dim=int(attrs["emb_dim"]), n_classes=int(attrs["n_classes"]),
                n_clients=int(attrs["n_clients"]))


def main():
    path = sys.argv[1]
    expected = int(sys.argv[2]) if len(sys.argv) > 2 else None
    with h5py.File(path, "r") as f:
        model = model_from_attrs(f["model"].attrs)
        for group in ("model", "ema"):
            state = {name: torch.from_numpy(f[group][name][...]) for name in f[group]}
            model.load_state_dict(state, strict=True)  # raises on a missing, extra or misshaped tensor
            for name, p in model.state_dict().items():
                if not np.array_equal(p.numpy(), f[group][name][...]):
                    raise SystemExit(f"FAIL: /{group}/{name} changed on loading")
    backbone = sum(p.numel() for n, p in model.named_parameters()
                   if not n.startswith(("class_emb", "client_emb")))
    print(f"{path}: {len(state)} tensors loaded by name into PyTorch, {backbone} backbone parameters")
    if expected is not None and backbone != expected:
        raise SystemExit(f"FAIL: {backbone} backbone parameters, expected {expected}")
    print("PASS")


if __name__ == "__main__":
    main()
