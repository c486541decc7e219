#!/usr/bin/python3
"""PyTorch reference test of the default UNet.

Runs the C exporter (tests/reference/export_unet.c), loads its initial weights into the PyTorch
model of tests/reference/unet.py by name, replays the same training step (noising, forward,
loss, backward) and three AdamW steps with gradient clipping, and compares every tensor.
Exit code 0 only if every comparison is within tolerance; the worst ones are printed.

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

TOLERANCE = 1e-4  # per-tensor relative error, ||c - torch|| / ||torch||


def rel_err(c, ref):
    c, ref = np.asarray(c, np.float64), np.asarray(ref, np.float64)
    denom = np.linalg.norm(ref)
    return np.linalg.norm(c - ref) / (denom if denom > 0 else 1.0)


def main():
    exporter, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "unet_reference.h5")
    subprocess.run([exporter, path], check=True)
    torch.set_num_threads(2)
    torch.manual_seed(0)

    with h5py.File(path, "r") as f:
        init = {k: torch.from_numpy(f["init"][k][()]) for k in f["init"]}
        net = UNet(n_classes=10, n_clients=3)
        missing, unexpected = net.load_state_dict(init, strict=False)
        if missing or unexpected:
            print(f"FAIL: names differ: missing in C {missing}, unknown to PyTorch {unexpected}")
            return 1
        # NHWC with one channel is NCHW's memory: reshape, no transpose.
        x0 = torch.from_numpy(f["x0"][()]).reshape(-1, 1, 28, 28)
        noise = torch.from_numpy(f["noise"][()]).reshape(-1, 1, 28, 28)
        t = torch.from_numpy(f["t"][()]).long()
        y = torch.from_numpy(f["y"][()]).long()
        client = torch.from_numpy(f["client"][()]).long()
        lr, wd, clip = (float(f.attrs[k]) for k in ("lr", "weight_decay", "clip"))
        steps = int(f.attrs["steps"])

        betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
        abar = torch.cumprod(1 - betas, 0)
        a = abar[t].sqrt().float()[:, None, None, None]
        s = (1 - abar[t]).sqrt().float()[:, None, None, None]
        xt = a * x0 + s * noise

        decay = [p for n, p in net.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in net.named_parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=lr)
        results = []
        for step in range(steps):
            opt.zero_grad()
            pred = net(xt, t.float(), y, client)
            loss = torch.mean((pred - noise) ** 2)
            loss.backward()
            if step == 0:
                results.append(("forward output", rel_err(f["pred"][()].reshape(pred.shape),
                                                          pred.detach().numpy())))
                results.append(("loss", rel_err(f["loss"][()], loss.detach().numpy())))
                for name, p in net.named_parameters():
                    results.append((f"grad {name}", rel_err(f["grad"][name][()], p.grad.numpy())))
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
        for name, p in net.named_parameters():
            # Compare what training changed: the update is small next to the weights.
            update_c = f["after"][name][()] - f["init"][name][()]
            update_t = p.detach().numpy() - f["init"][name][()]
            results.append((f"update {name}", rel_err(update_c, update_t)))

    results.sort(key=lambda r: -r[1])
    failed = [r for r in results if not r[1] <= TOLERANCE]
    print(f"compared {len(results)} tensors; worst relative errors (tolerance {TOLERANCE:g}):")
    for name, err in results[:8]:
        print(f"  {err:.3e}  {name}")
    grads = [e for n, e in results if n.startswith("grad ")]
    print(f"gradients: {len(grads)} tensors, worst {max(grads):.3e}, median {np.median(grads):.3e}")
    if failed:
        print(f"FAIL: {len(failed)} tensor(s) above tolerance, e.g. {failed[0][0]}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
