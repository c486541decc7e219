#!/usr/bin/python3
"""PyTorch reference test of the default UNet.

Runs the C exporter (tests/reference/export_unet.c), loads its initial weights into the PyTorch
model of tests/reference/unet.py by name, replays the same training step (noising, forward,
loss, backward) and three AdamW steps with gradient clipping, and compares the output, the
loss, every gradient and every parameter after the three steps (the steps move the weights by
about 5%, so a wrong optimizer shows at 1e-3 and beyond).

The reference runs in float64, so it carries no rounding error worth the name. PyTorch also
replays the step in float32: a tensor passes when feddiff's relative error against float64 is
at most 1e-4, or at most twice float32 PyTorch's own error on that tensor. The second clause
only matters for sums with heavy cancellation (the gradient of conv_out.bias is the mean
residual, near zero), where no float32 code reaches 1e-4.
Exit code 0 only if every tensor passes; the worst ones are printed.

    compare_unet.py EXPORTER WORKDIR
"""
import os
import subprocess
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet import UNet  # noqa: E402

TOLERANCE = 1e-4  # per-tensor relative error, ||x - ref|| / ||ref||


def rel_err(x, ref):
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    denom = np.linalg.norm(ref)
    return np.linalg.norm(x - ref) / (denom if denom > 0 else 1.0)


def replay(f, dtype):
    """The exporter's training run in PyTorch: (pred, loss, grads, updates) as numpy."""
    init = {k: torch.from_numpy(f["init"][k][()]).to(dtype) for k in f["init"]}
    net = UNet(n_classes=10, n_clients=3).to(dtype)
    missing, unexpected = net.load_state_dict(init, strict=False)
    if missing or unexpected:
        raise SystemExit(f"FAIL: names differ: missing in C {missing}, unknown to PyTorch {unexpected}")
    # NHWC with one channel is NCHW's memory: reshape, no transpose.
    x0 = torch.from_numpy(f["x0"][()]).to(dtype).reshape(-1, 1, 28, 28)
    noise = torch.from_numpy(f["noise"][()]).to(dtype).reshape(-1, 1, 28, 28)
    t = torch.from_numpy(f["t"][()]).long()
    y = torch.from_numpy(f["y"][()]).long()
    client = torch.from_numpy(f["client"][()]).long()
    lr, wd, clip = (float(f.attrs[k]) for k in ("lr", "weight_decay", "clip"))

    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    a = abar[t].sqrt().to(dtype)[:, None, None, None]
    s = (1 - abar[t]).sqrt().to(dtype)[:, None, None, None]
    xt = a * x0 + s * noise

    decay = [p for p in net.parameters() if p.ndim >= 2]
    no_decay = [p for p in net.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    out = {}
    for step in range(int(f.attrs["steps"])):
        opt.zero_grad()
        pred = net(xt, t.to(dtype), y, client)
        loss = torch.mean((pred - noise) ** 2)
        loss.backward()
        if step == 0:
            out["forward output"] = pred.detach().numpy().reshape(f["pred"].shape)
            out["loss"] = loss.detach().numpy().reshape(1)
            for name, p in net.named_parameters():
                out[f"grad {name}"] = p.grad.numpy().copy()
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
    for name, p in net.named_parameters():
        out[f"after {name}"] = p.detach().numpy()
    return out


def feddiff_values(f):
    out = {"forward output": f["pred"][()], "loss": f["loss"][()]}
    for name in f["grad"]:
        out[f"grad {name}"] = f["grad"][name][()]
        out[f"after {name}"] = f["after"][name][()]
    return out


def main():
    exporter, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "unet_reference.h5")
    subprocess.run([exporter, path], check=True)
    torch.set_num_threads(2)

    with h5py.File(path, "r") as f:
        ref = replay(f, torch.float64)
        torch32 = replay(f, torch.float32)
        ours = feddiff_values(f)
    if set(ours) != set(ref):
        print(f"FAIL: tensors differ: {sorted(set(ours) ^ set(ref))[:5]}")
        return 1

    rows = []
    for key in ref:
        err, err32 = rel_err(ours[key], ref[key]), rel_err(torch32[key], ref[key])
        rows.append((key, err, err32, bool(err <= max(TOLERANCE, 2 * err32))))
    rows.sort(key=lambda r: -r[1])
    print(f"compared {len(rows)} tensors against float64 PyTorch "
          f"(pass: error <= {TOLERANCE:g} or <= 2x float32 PyTorch's); worst:")
    print("  feddiff    torch f32  tensor")
    for key, err, err32, ok in rows[:8]:
        print(f"  {err:.3e}  {err32:.3e}  {key}{'' if ok else '   <-- FAIL'}")
    grads = [r[1] for r in rows if r[0].startswith("grad ")]
    print(f"gradients: {len(grads)} tensors, worst {max(grads):.3e}, median {np.median(grads):.3e}")
    failed = [r for r in rows if not r[3]]
    if failed:
        print(f"FAIL: {len(failed)} tensor(s) out of tolerance, e.g. {failed[0][0]}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
