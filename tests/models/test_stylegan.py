"""StyleGAN2/3 parity with the shared reference fixtures, the Generator contract, truncation,
the user transform, and the fp16 path on tiny tensors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from latentperform.models.base import ModelError
from latentperform.models.loader import clear_cache, describe, inspect_model, load_generator
from latentperform.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from latentperform.models.stylegan3 import rotate_translate
from tests.models.contract import GeneratorContract

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures/stylegan"
TOL = 1e-4


def fixture_cases() -> list[dict]:
    index = FIXTURES / "index.json"
    if not index.is_file():
        return []
    return json.loads(index.read_text())


needs_fixtures = pytest.mark.skipif(not (FIXTURES / "index.json").is_file(),
                                    reason=f"StyleGAN fixtures not found at {FIXTURES}")
CASES = fixture_cases()
CASE_IDS = [c["name"] for c in CASES]

# sg2ada-skip-64's reference was rendered by StyleGAN2-ADA's own code on the CPU, which runs the
# blocks flagged use_fp16 (8..64 px here) in half even there (the StyleGAN3 repository's copy
# does not).  Its ws match to 1e-5; its images differ from any float32 forward pass by fp16
# rounding: measured max abs 2.6e-2 (psi 1) / 1.5e-2 (psi 0.7), relative (L2) 1.1e-3, on
# outputs of magnitude up to 22, where one fp16 step is 1.6e-2.  The float32 path is held to that.
FP16_REFERENCE = {"sg2ada-skip-64": 5e-2}


@pytest.fixture(scope="module")
def generators():
    loaded = {}

    def get(name):
        if name not in loaded:
            loaded[name] = load_generator(FIXTURES / f"{name}.pkl")
        return loaded[name]

    return get


def _max_err(a: torch.Tensor, b: np.ndarray) -> float:
    return float(np.abs(a.detach().cpu().numpy() - b).max())


@needs_fixtures
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_mapping_matches_reference(case, generators):
    G = generators(case["name"])
    ref = np.load(FIXTURES / f"{case['name']}.npz")
    z = torch.from_numpy(ref["z"])
    c = torch.from_numpy(ref["c"]) if G.c_dim else None
    with torch.no_grad():
        ws = G.mapping(z, c)
    assert _max_err(ws, ref["ws"]) < TOL


@needs_fixtures
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_images_match_reference(case, generators):
    G = generators(case["name"])
    ref = np.load(FIXTURES / f"{case['name']}.npz")
    z = torch.from_numpy(ref["z"])
    c = torch.from_numpy(ref["c"]) if G.c_dim else None
    tol = FP16_REFERENCE.get(case["name"], TOL)
    for psi in case["psis"]:
        with torch.no_grad():
            img = G(z, c, truncation_psi=psi, noise_mode="const")
        expected = ref[f"img_psi{psi}"]
        assert tuple(img.shape) == expected.shape
        err = _max_err(img, expected)
        assert err < tol, f"psi {psi}: max abs error {err:.3g}"


def _rel_err(a: torch.Tensor, b: np.ndarray) -> float:
    a = a.detach().cpu().numpy().astype(np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@needs_fixtures
@pytest.mark.parametrize("case", [c for c in CASES if c["name"] in FP16_REFERENCE],
                         ids=[n for n in CASE_IDS if n in FP16_REFERENCE])
def test_reference_precision_reproduces_fp16_render(case):
    """load_generator(precision="reference") runs StyleGAN2-ADA's fp16 blocks in half on the CPU,
    in that code's order of operations, and comes closer to its render than float32 does.

    Measured on this project's machines (torch 2.13 CPU): max abs 1.9e-2 / 1.4e-2 and relative
    6.3e-4 / 6.1e-4 at psi 1 / 0.7, against 2.6e-2 / 1.5e-2 and 1.06e-3 / 1.11e-3 for float32.
    1e-4 is out of reach without the very kernels that rendered it: two fp16 renders that differ
    only in the float32 summation order inside the convolutions (oneDNN vs the portable kernel)
    already differ by max 1.4e-2..2.0e-2, relative 3.3e-4..4.6e-4; and the output's last fp16 step
    is 1.6e-2 at its magnitude (22)."""
    ref = np.load(FIXTURES / f"{case['name']}.npz")
    G = load_generator(FIXTURES / f"{case['name']}.pkl", precision="reference")
    fast = load_generator(FIXTURES / f"{case['name']}.pkl")
    assert G is not fast and G.synthesis.reference and G.synthesis.run_dtype == torch.float16
    assert not fast.synthesis.reference and fast.synthesis.run_dtype == torch.float32
    z = torch.from_numpy(ref["z"])
    for psi in case["psis"]:
        expected = ref[f"img_psi{psi}"]
        with torch.no_grad():
            img = G(z, truncation_psi=psi)
            img32 = fast(z, truncation_psi=psi)
        assert img.dtype == torch.float32
        err, rel, rel32 = _max_err(img, expected), _rel_err(img, expected), _rel_err(img32, expected)
        assert err < 2.5e-2 and rel < 8e-4, f"psi {psi}: max abs {err:.3g}, relative {rel:.3g}"
        assert rel < 0.8 * rel32, f"psi {psi}: reference {rel:.3g} is no closer than float32 {rel32:.3g}"


@needs_fixtures
def test_reference_precision_follows_the_code_that_wrote_the_pickle():
    """Only StyleGAN2-ADA pickles get the half-on-CPU arithmetic; the StyleGAN3 repository's
    StyleGAN2 and StyleGAN3 run float32 on the CPU, so "reference" still matches them to 1e-4."""
    assert load_generator(FIXTURES / "sg2ada-skip-64.pkl").source_code == "training.networks"
    for name in ["sg3repo-sg2-skip-64", "sg3-t-64"]:
        G = load_generator(FIXTURES / f"{name}.pkl", precision="reference")
        assert G.synthesis.run_dtype == torch.float32, name
        ref = np.load(FIXTURES / f"{name}.npz")
        with torch.no_grad():
            img = G(torch.from_numpy(ref["z"]))
        assert _max_err(img, ref["img_psi1.0"]) < TOL, name
    assert load_generator(FIXTURES / "sg3repo-sg2-skip-64.pkl").source_code == "training.networks_stylegan2"
    with pytest.raises(ModelError, match="precision must be"):
        load_generator(FIXTURES / "sg3-t-64.pkl", precision="exact")


@needs_fixtures
def test_reference_precision_resnet_conditional_and_batch_one():
    """The reference arithmetic's float32 path (fused modulation, resnet shortcut in the original
    order) matches the resnet fixture to 1e-4; at batch 1 the fp16 blocks take the fused form."""
    ref = np.load(FIXTURES / "sg2ada-resnet-32-cond.npz")
    G = load_generator(FIXTURES / "sg2ada-resnet-32-cond.pkl", precision="reference")
    z, c = torch.from_numpy(ref["z"]), torch.from_numpy(ref["c"])
    with torch.no_grad():
        for psi in (1.0, 0.5):
            assert _max_err(G(z, c, truncation_psi=psi), ref[f"img_psi{psi}"]) < TOL
        one = load_generator(FIXTURES / "sg2ada-skip-64.pkl", precision="reference")
        ref64 = np.load(FIXTURES / "sg2ada-skip-64.npz")
        img = torch.cat([one(torch.from_numpy(ref64["z"][i:i + 1])) for i in range(3)])
    assert torch.isfinite(img).all()
    assert _rel_err(img, ref64["img_psi1.0"]) < 3e-3  # measured 1.15e-3: fp16, fused rounding


def test_portable_half_transposed_conv_matches_float32():
    from latentperform.models._ops import conv_transpose2d_portable_half
    g = torch.Generator().manual_seed(0)
    for groups in (1, 2):
        x = torch.randn(2, 4 * groups, 5, 6, generator=g)
        w = torch.randn(4 * groups, 3, 3, 3, generator=g) / 6
        expected = torch.nn.functional.conv_transpose2d(x, w, stride=2, groups=groups)
        out = conv_transpose2d_portable_half(x.half(), w.half(), stride=2, groups=groups)
        assert out.dtype == torch.float16 and out.shape == expected.shape
        torch.testing.assert_close(out.float(), expected, atol=1e-2, rtol=1e-2)


@needs_fixtures
@pytest.mark.parametrize("case", [c for c in CASES if c["transform"]],
                         ids=[c["name"] for c in CASES if c["transform"]])
def test_user_transform_matches_reference(case, generators):
    G = generators(case["name"])
    ref = np.load(FIXTURES / f"{case['name']}.npz")
    M = torch.from_numpy(ref["transform_user"])
    angle, tx, ty = case["transform"]
    torch.testing.assert_close(M.float(), rotate_translate(angle, tx, ty), atol=1e-6, rtol=0)
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(ref["z"]))
        img = G.synthesis(ws, transform=M)
        plain = G.synthesis(ws)
    assert _max_err(img, ref["img_transformed"]) < TOL
    assert (img - plain).abs().max() > 1e-2, "the transform must move the picture"
    # the pickled input transform is left as it was
    torch.testing.assert_close(G.synthesis.input.transform, torch.eye(3), atol=0, rtol=0)


@needs_fixtures
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_truncation_cutoff(case, generators):
    G = generators(case["name"])
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(1))
    c = torch.eye(G.c_dim)[:2] if G.c_dim else None
    with torch.no_grad():
        ws = G.mapping(z, c)
        cut = G.mapping(z, c, truncation_psi=0.5, truncation_cutoff=3)
    torch.testing.assert_close(cut[:, 3:], ws[:, 3:])
    torch.testing.assert_close(cut[:, :3], G.w_avg.lerp(ws[:, :3], 0.5))


@needs_fixtures
def test_describe_and_inspect(tmp_path):
    for name, kind in [("sg2ada-resnet-32-cond", "stylegan2-resnet"), ("sg3-r-64", "stylegan3-r"),
                       ("sg3-t-64", "stylegan3-t"), ("sg2ada-skip-64", "stylegan2-skip")]:
        G = load_generator(FIXTURES / f"{name}.pkl")
        d = describe(G)
        assert d["kind"] == kind
        assert d["parameters"] == sum(p.numel() for p in G.parameters()) > 0
    d = describe(load_generator(FIXTURES / "sg2ada-resnet-32-cond.pkl"))
    assert (d["resolution"], d["channels"], d["num_ws"], d["w_dim"], d["z_dim"]) == (32, 3, 8, 48, 32)
    assert d["conditional"] and d["c_dim"] == 4
    out = tmp_path / "sheet.png"
    text = inspect_model(FIXTURES / "sg3-t-64.pkl", out, seeds=[0, 1, 2], psi=0.7)
    assert "stylegan3-t" in text and "64 x 64" in text and "not" not in text.split("conditional")[1][:8]
    from PIL import Image
    with Image.open(out) as im:
        assert im.size == (3 * 256, 256)
        assert np.asarray(im).std() > 1


@needs_fixtures
def test_loader_cache_by_path_mtime_device_dtype(tmp_path):
    clear_cache()
    src = FIXTURES / "sg2ada-resnet-32-cond.pkl"
    copy = tmp_path / "net.pkl"
    copy.write_bytes(src.read_bytes())
    a = load_generator(copy)
    assert load_generator(str(copy)) is a
    import os
    st = copy.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert load_generator(copy) is not a


@needs_fixtures
class TestStyleGAN2Contract(GeneratorContract):
    def make_generator(self):
        return load_generator(FIXTURES / "sg2ada-resnet-32-cond.pkl")


@needs_fixtures
class TestStyleGAN2SkipContract(GeneratorContract):
    def make_generator(self):
        return load_generator(FIXTURES / "sg3repo-sg2-skip-64.pkl")


@needs_fixtures
class TestStyleGAN3Contract(GeneratorContract):
    def make_generator(self):
        return load_generator(FIXTURES / "sg3-t-64.pkl")


# ---- built from a config (no pickle): architectures, channels, fp16 -----------------------------

def tiny_config(**kw) -> StyleGAN2Config:
    base = dict(z_dim=16, w_dim=16, mapping_layers=2, channel_base=64, channel_max=16, num_fp16_res=2)
    base.update(kw)
    res = base.pop("resolution", 16)
    return StyleGAN2Config.standard(res, **base)


@pytest.mark.parametrize("architecture", ["skip", "resnet", "orig"])
@pytest.mark.parametrize("img_channels", [1, 4])
def test_config_built_networks_run(architecture, img_channels):
    torch.manual_seed(0)
    G = StyleGAN2Generator(tiny_config(architecture=architecture, img_channels=img_channels, c_dim=2))
    z = torch.randn(2, 16)
    with torch.no_grad():
        img = G(z, torch.eye(2))
    assert tuple(img.shape) == (2, img_channels, 16, 16)
    assert torch.isfinite(img).all()
    with pytest.raises(ModelError, match="conditional"):
        G(z)


def test_fp16_path_close_to_fp32_on_tiny_net():
    torch.manual_seed(0)
    G = StyleGAN2Generator(tiny_config(resolution=16))
    z = torch.randn(2, 16)
    with torch.no_grad():
        ref = G(z)
        G.set_precision(torch.float16)  # CPU: falls back to fp32
        assert G.synthesis.run_dtype == torch.float32
        G.set_precision(torch.float16, allow_cpu=True)
        half = G(z)
        G.set_precision(torch.float32)
    assert half.dtype == torch.float32 and half.shape == ref.shape
    assert torch.isfinite(half).all()
    rel = (half - ref).norm() / ref.norm()
    assert rel < 2e-2, f"fp16 relative error {rel:.3g}"


@needs_fixtures
def test_fp16_path_stylegan3_on_cpu(generators):
    G = load_generator(FIXTURES / "sg3-t-64.pkl", precision="fp16")  # CPU: fp32
    assert G.synthesis.run_dtype == torch.float32
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0))
    G2 = generators("sg3-r-64")
    with torch.no_grad():
        ref = G2(torch.randn(1, G2.z_dim, generator=torch.Generator().manual_seed(0)))
        G2.set_precision(torch.float16, allow_cpu=True)
        try:
            half = G2(torch.randn(1, G2.z_dim, generator=torch.Generator().manual_seed(0)))
        finally:
            G2.set_precision(torch.float32)
    assert torch.isfinite(half).all()
    assert (half - ref).norm() / ref.norm() < 2e-2
    assert z.shape == (1, G.z_dim)


def test_stylegan2_transform_warps_picture():
    torch.manual_seed(0)
    G = StyleGAN2Generator(tiny_config(resolution=16))
    ws = G.mapping(torch.randn(1, 16))
    with torch.no_grad():
        plain = G.synthesis(ws)
        same = G.synthesis(ws, transform=torch.eye(3))
        moved = G.synthesis(ws, transform=rotate_translate(0, 0.25, 0))
    torch.testing.assert_close(same, plain, atol=1e-5, rtol=0)
    # a quarter-picture translation to the right: column j shows what column j - 4 showed
    torch.testing.assert_close(moved[..., 6:12], plain[..., 2:8], atol=1e-4, rtol=0)


def test_wrong_ws_shape_is_a_model_error():
    G = StyleGAN2Generator(tiny_config())
    with pytest.raises(ModelError, match="ws must be"):
        G.synthesis(torch.zeros(1, 3, 16))


@needs_fixtures
def test_built_stylegan3_t_reproduces_pickled_schedule_and_filters():
    """build_stylegan3_t (used by bench/generator.py) lays out the same network as the pickle."""
    from latentperform.models.stylegan3 import build_stylegan3_t
    ref = load_generator(FIXTURES / "sg3-t-64.pkl")
    G = build_stylegan3_t(64, z_dim=64, w_dim=64, channel_base=2048, channel_max=64)
    assert G.synthesis.layer_names == ref.synthesis.layer_names
    assert (G.synthesis.input.size, G.synthesis.input.sampling_rate, G.synthesis.input.bandwidth) == \
        (ref.synthesis.input.size, ref.synthesis.input.sampling_rate, ref.synthesis.input.bandwidth)
    for name in ref.synthesis.layer_names:
        a, b = getattr(G.synthesis, name), getattr(ref.synthesis, name)
        assert (a.up_factor, a.down_factor, a.padding, a.use_fp16, a.conv_kernel) == \
            (b.up_factor, b.down_factor, b.padding, b.use_fp16, b.conv_kernel), name
        for f in ("up_filter", "down_filter"):
            fa, fb = getattr(a, f), getattr(b, f)
            assert (fa is None) == (fb is None), (name, f)
            if fa is not None:
                torch.testing.assert_close(fa, fb, atol=1e-6, rtol=0)


def test_accelerate_modes_on_cpu():
    torch.manual_seed(0)
    G = StyleGAN2Generator(tiny_config())
    ws = G.mapping(torch.randn(1, 16))
    with torch.no_grad():
        ref = G.synthesis(ws)
        G.accelerate("graphs")  # CUDA only: a no-op here
        torch.testing.assert_close(G.synthesis(ws), ref)
        G.accelerate("eager")
    with pytest.raises(ValueError, match="accelerate mode"):
        G.accelerate("warp-speed")


def test_device_auto_and_bad_device():
    G = load_generator("builtin:32", device="auto")
    assert G.resolution == 32
    with pytest.raises(ModelError, match="bad device"):
        load_generator("builtin", device="toaster")
    with pytest.raises(ModelError, match='expected "builtin", "builtin:<size>"'):
        load_generator("builtin:big")


def test_bench_generator_quick_on_cpu(capsys):
    """`python bench/generator.py --quick --device cpu` runs and prints its figures: tiny networks
    in fp32 and emulated fp16 (eager and graphs), and every fixture pickle."""
    import importlib.util
    path = Path(__file__).resolve().parents[2] / "bench" / "generator.py"
    spec = importlib.util.spec_from_file_location("bench_generator", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--quick", "--device", "cpu"])
    out = capsys.readouterr().out
    assert out.count("ms/frame") == 4 + 2 + len(CASES)
    for line in out.splitlines():
        if "ms/frame" in line:
            assert float(line.split("ms/frame")[0].split()[-1]) > 0
        if "relative error" in line:
            assert float(line.split("relative error")[1].split()[0]) < 2e-2, line
    assert out.count("relative error") == 2
    for case in CASES:
        assert case["name"] in out
