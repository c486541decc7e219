"""The default feddiff UNet in PyTorch: the reference the C model is checked against.

Module names and parameter layouts are the ones feddiff uses for its tensors, so a feddiff
checkpoint loads into this model with load_state_dict. Images are NCHW here; feddiff computes in
NHWC, which is the same memory for one channel."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t, dim):
    """DDPM's sinusoidal embedding: [sin(t f), cos(t f)], f_i = exp(-ln(10000) i / (half - 1))."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float64) * -(math.log(10000.0) / (half - 1)))
    args = t.to(torch.float64)[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return emb if t.dtype == torch.float64 else emb.to(torch.float32)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb_act):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(temb_act)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class AttnBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3 * c, h * w).chunk(3, dim=1)
        att = torch.softmax(torch.einsum("bct,bcs->bts", q, k) / math.sqrt(c), dim=-1)
        out = torch.einsum("bts,bcs->bct", att, v).reshape(b, c, h, w)
        return x + self.proj(out)


class Resample(nn.Module):
    def __init__(self, c, down):
        super().__init__()
        self.down = down
        self.conv = nn.Conv2d(c, c, 3, stride=2 if down else 1, padding=1)

    def forward(self, x):
        if not self.down:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x)


class Level(nn.Module):
    def __init__(self):
        super().__init__()
        self.res = nn.ModuleList()
        self.attn = nn.ModuleList()


class UNet(nn.Module):
    def __init__(self, in_channels=1, width=32, mults=(1, 2, 2), res_blocks=2,
                 attention_levels=(2,), groups=8, time_dim=32, emb_dim=128,
                 n_classes=0, n_clients=0):
        super().__init__()
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, emb_dim), nn.SiLU(),
                                      nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(n_classes, emb_dim) if n_classes else None
        self.client_emb = nn.Embedding(n_clients, emb_dim) if n_clients else None
        self.conv_in = nn.Conv2d(in_channels, width, 3, padding=1)

        skip_channels = [width]
        ch = width
        self.down = nn.ModuleList()
        for l, m in enumerate(mults):
            level = Level()
            for _ in range(res_blocks):
                level.res.append(ResBlock(ch, width * m, emb_dim, groups))
                ch = width * m
                if l in attention_levels:
                    level.attn.append(AttnBlock(ch, groups))
                skip_channels.append(ch)
            if l + 1 < len(mults):
                level.downsample = Resample(ch, down=True)
                skip_channels.append(ch)
            self.down.append(level)

        self.mid = nn.Module()
        self.mid.res1 = ResBlock(ch, ch, emb_dim, groups)
        self.mid.attn = AttnBlock(ch, groups)
        self.mid.res2 = ResBlock(ch, ch, emb_dim, groups)

        self.up = nn.ModuleList([Level() for _ in mults])
        for l in reversed(range(len(mults))):
            level = self.up[l]
            for _ in range(res_blocks + 1):
                level.res.append(ResBlock(ch + skip_channels.pop(), width * mults[l], emb_dim, groups))
                ch = width * mults[l]
                if l in attention_levels:
                    level.attn.append(AttnBlock(ch, groups))
            if l > 0:
                level.upsample = Resample(ch, down=False)
        self.norm_out = nn.GroupNorm(groups, ch)
        self.conv_out = nn.Conv2d(ch, in_channels, 3, padding=1)

    def forward(self, x, t, y=None, client=None):
        temb = self.time_mlp(timestep_embedding(t, self.time_dim))
        if y is not None and self.class_emb is not None:
            temb = temb + self.class_emb(y)
        if client is not None and self.client_emb is not None:
            temb = temb + self.client_emb(client)
        temb_act = F.silu(temb)

        h = self.conv_in(x)
        skips = [h]
        for level in self.down:
            for r, res in enumerate(level.res):
                h = res(h, temb_act)
                if len(level.attn):
                    h = level.attn[r](h)
                skips.append(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
                skips.append(h)
        h = self.mid.res2(self.mid.attn(self.mid.res1(h, temb_act)), temb_act)
        for l in reversed(range(len(self.up))):
            level = self.up[l]
            for r, res in enumerate(level.res):
                h = res(torch.cat([h, skips.pop()], dim=1), temb_act)
                if len(level.attn):
                    h = level.attn[r](h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


if __name__ == "__main__":
    net = UNet()
    n = sum(p.numel() for p in net.parameters())
    print(f"parameters: {n:,}")
    x = torch.randn(4, 1, 28, 28)
    print(net(x, torch.tensor([0, 10, 500, 999])).shape)
