#!/usr/bin/python3
"""The PyTorch peer of `feddiff bench train-step`: the same training step of the same model.

The default UNet of tests/reference/unet.py (the twin the reference test checks feddiff
against), float32, NCHW (PyTorch's preferred layout on CPU), on `--threads` intra-op threads.
A step: random x0 in [-1, 1], t uniform in [0, 999], noise ~ N(0, I), x_t on the linear
schedule, forward, MSE against the noise, backward, clip_grad_norm_, AdamW (weight decay on
weights only, as feddiff). Defaults are feddiff's train.* defaults; bench/train_step.sh passes
them explicitly. Autograd anomaly mode off, torch.backends untouched; no torch.compile (1.13).
Prints a table and a RESULT line with images/s and the peak RSS (ru_maxrss).

    peer_torch.py [--batch B] [--steps S] [--warmup W] [--threads N] [--lr LR]
                  [--weight-decay WD] [--clip C] [--seed SEED]
"""
import argparse
import os
import resource
import sys
import time


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KB


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    base_rss = rss_mb()  # the interpreter alone
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                    "reference"))
    from unet import UNet

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    import_rss = rss_mb()  # with torch loaded, before the model exists

    net = UNet()  # unconditional default, float32
    n_params = sum(p.numel() for p in net.parameters())
    decay = [p for p in net.parameters() if p.ndim >= 2]
    no_decay = [p for p in net.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    sqrt_abar, sqrt_1m_abar = abar.sqrt().float(), (1 - abar).sqrt().float()
    B = args.batch

    def step():
        x0 = torch.rand(B, 1, 28, 28) * 2 - 1
        t = torch.randint(0, 1000, (B,))
        noise = torch.randn(B, 1, 28, 28)
        xt = sqrt_abar[t][:, None, None, None] * x0 + sqrt_1m_abar[t][:, None, None, None] * noise
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((net(xt, t.float()) - noise) ** 2)
        loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), args.clip)
        opt.step()
        return loss.item()

    print(f"peer_torch: PyTorch {torch.__version__} default UNet ({n_params} parameters), "
          f"batch {B}, {torch.get_num_threads()} thread(s)")
    print(f"step: noising, forward, MSE, backward, clip to norm {args.clip:g}, AdamW lr {args.lr:g}, "
          f"weight decay {args.weight_decay:g}")
    first = last = 0.0
    for _ in range(args.warmup):
        first = step()
    seconds = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for s in range(args.steps):
        t0 = time.perf_counter()
        last = step()
        seconds.append(time.perf_counter() - t0)
        if s == 0 and args.warmup == 0:
            first = last
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_rss = rss_mb()
    per_step = elapsed / args.steps
    seconds.sort()
    print(f"{args.warmup} warm-up + {args.steps} timed steps, loss {first:.4f} -> {last:.4f}")
    print(f"  {'images/s':>9} {'ms/step':>9} {'fastest':>9} {'slowest':>9}")
    print(f"  {B / per_step:9.1f} {per_step * 1e3:9.1f} {seconds[0] * 1e3:9.1f} "
          f"{seconds[-1] * 1e3:9.1f}")
    print(f"CPU time {cpu / args.steps * 1e3:.1f} ms per step (all threads; "
          f"{cpu / elapsed:.2f} cores busy on average)")
    print(f"peak RSS {peak_rss:.1f} MB ({import_rss:.1f} MB with torch imported, before the model; "
          f"{base_rss:.1f} MB the interpreter alone)")
    print(f"RESULT images_per_s={B / per_step:.2f} ms_per_step={per_step * 1e3:.2f} "
          f"cpu_ms_per_step={cpu / args.steps * 1e3:.2f} peak_rss_mb={peak_rss:.1f} "
          f"base_rss_mb={import_rss:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
