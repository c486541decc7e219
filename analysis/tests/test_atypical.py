"""analysis/atypical.py on made-up reference images and samples with known blobs and fog."""
import h5py
import numpy as np

from conftest import run_script

SIDE = 28


def strokes(rng, n):
    """Digit-like images: one or two thick lines on black, a few percent of the pixels inked."""
    out = np.zeros((n, SIDE, SIDE), np.uint8)
    for img in out:
        for _ in range(rng.integers(1, 3)):
            r0, c0, r1, c1 = rng.integers(4, SIDE - 4, 4)
            for s in np.linspace(0, 1, 40):
                r, c = int(r0 + s * (r1 - r0)), int(c0 + s * (c1 - c0))
                img[r:r + 2, c:c + 2] = 255
    return out


def write_idx(path, images):
    n, h, w = images.shape
    header = b"\x00\x00\x08\x03" + b"".join(int(v).to_bytes(4, "big") for v in (n, h, w))
    path.write_bytes(header + images.tobytes())


def write_samples(path, images, clients=None):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "feddiff-samples"
        f["samples"] = (images.astype(np.float32) / 255 * 2 - 1)[..., None]
        if clients is not None:
            f["clients"] = np.asarray(clients, np.int32)


def case(tmp_path):
    """A reference of 500 stroke images, and 20 samples: 10 of its strokes, 5 blobs, 5 fogs."""
    rng = np.random.default_rng(7)
    reference = strokes(rng, 500)
    write_idx(tmp_path / "ref-idx3-ubyte", reference)
    ink = (reference > 127).mean(axis=(1, 2))
    typical = reference[np.argsort(ink)[200:210]]  # mid-range ink, no grey at all
    blobs = np.zeros((5, SIDE, SIDE), np.uint8)
    blobs[:, 6:22, 6:22] = 255  # a filled square: a third of the image inked
    fog = rng.integers(70, 125, (5, SIDE, SIDE)).astype(np.uint8)  # grey everywhere, no ink
    samples = np.concatenate([typical, blobs, fog])
    clients = [3] * 10 + [5] * 10
    write_samples(tmp_path / "samples.h5", samples, clients)
    return tmp_path / "ref-idx3-ubyte", tmp_path / "samples.h5", reference


def test_counts_the_blobs_and_the_fog_and_nothing_else(tmp_path):
    ref, samples, reference = case(tmp_path)
    rc, out, err = run_script("atypical.py", samples, "--reference", ref, "--per-client")
    assert rc == 0, err
    assert f"{samples}: 10 of 20 atypical (50.0%)" in out
    assert "client 3: 0 of 10 (0%)" in out and "client 5: 10 of 10 (100%)" in out
    # The strokes have no grey: the reference's own atypical ones are those above its ink quantile.
    ink = (reference / 255.0 > 0.5).mean(axis=(1, 2))
    share = (ink > np.quantile(ink, 0.99)).mean()
    assert 0 < share <= 0.01
    assert f"500 images; typical up to ink {np.quantile(ink, 0.99):.3f}, grey 0.000" in out
    assert f"{100 * share:.1f}% of them atypical" in out


def test_max_share_sets_the_exit_code(tmp_path):
    ref, samples, _ = case(tmp_path)
    rc, out, _ = run_script("atypical.py", samples, "--reference", ref, "--max-share", "0.4")
    assert rc == 1 and "FAIL: 50.0% atypical" in out
    rc, out, _ = run_script("atypical.py", samples, "--reference", ref, "--max-share", "0.5")
    assert rc == 0 and "FAIL" not in out


def test_bad_input_is_one_line_naming_the_file(tmp_path):
    ref, samples, _ = case(tmp_path)
    truncated = tmp_path / "short-idx3-ubyte"
    truncated.write_bytes(ref.read_bytes()[:1000])
    not_h5 = tmp_path / "notes.txt"
    not_h5.write_text("not HDF5\n")
    small = tmp_path / "small.h5"
    write_samples(small, np.zeros((2, 14, 14), np.uint8))
    for argv, words in [([samples, "--reference", tmp_path / "missing"], "missing: cannot read"),
                        ([samples, "--reference", truncated], "short-idx3-ubyte: truncated"),
                        ([samples, "--reference", samples], "samples.h5: not an IDX file"),
                        ([not_h5, "--reference", ref], "notes.txt: no such file, or not HDF5"),
                        ([small, "--reference", ref], "small.h5: images of 14x14")]:
        rc, out, err = run_script("atypical.py", *argv)
        assert rc == 2, (argv, out, err)
        assert len(err.strip().splitlines()) == 1 and words in err, (argv, err)
