"""The one contract every Generator kind passes.  A subclass only says how to build itself:

    class TestBuiltin(GeneratorContract):
        def make_generator(self):
            return BuiltinGenerator(resolution=64)
"""

from __future__ import annotations

import torch

from latentperform.models.base import Generator


class GeneratorContract:
    batch = 2

    def make_generator(self) -> Generator:  # pragma: no cover - overridden
        raise NotImplementedError

    def _z(self, G, seed=0, n=None):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n or self.batch, G.z_dim, generator=g)

    def _c(self, G, n=None):
        if G.c_dim == 0:
            return None
        c = torch.zeros(n or self.batch, G.c_dim)
        c[:, 0] = 1
        return c

    def test_is_a_generator(self):
        G = self.make_generator()
        assert isinstance(G, Generator)
        for name in ("z_dim", "w_dim", "num_ws", "resolution", "img_channels"):
            assert isinstance(getattr(G, name), int) and getattr(G, name) > 0, name
        assert isinstance(G.c_dim, int) and G.c_dim >= 0
        assert tuple(G.w_avg.shape) == (G.w_dim,)

    def test_mapping_shape_and_truncation(self):
        G = self.make_generator()
        z, c = self._z(G), self._c(G)
        with torch.no_grad():
            ws = G.mapping(z, c)
            assert tuple(ws.shape) == (self.batch, G.num_ws, G.w_dim)
            assert torch.isfinite(ws).all()
            ws0 = G.mapping(z, c, truncation_psi=0.0)
            # psi = 0 collapses every latent onto w_avg
            torch.testing.assert_close(ws0, G.w_avg.expand_as(ws0).to(ws0.dtype), atol=1e-4, rtol=1e-4)
            ws_cut = G.mapping(z, c, truncation_psi=0.0, truncation_cutoff=1)
            torch.testing.assert_close(ws_cut[:, 1:], ws[:, 1:])

    def test_synthesis_shape_range_and_determinism(self):
        G = self.make_generator()
        z, c = self._z(G), self._c(G)
        with torch.no_grad():
            ws = G.mapping(z, c)
            img = G.synthesis(ws, noise_mode="const")
            img2 = G.synthesis(ws, noise_mode="const")
            full = G(z, c)
        assert tuple(img.shape) == (self.batch, G.img_channels, G.resolution, G.resolution)
        assert img.is_floating_point() and torch.isfinite(img).all()
        assert img.abs().max() < 10, "output should be in nominal [-1, 1]"
        assert img.std() > 1e-3, "a flat image is not a picture"
        torch.testing.assert_close(img, img2)
        torch.testing.assert_close(full, img)
        # different latents give different pictures
        assert (img[0] - img[1]).abs().mean() > 1e-3

    def test_one_transform_per_picture(self):
        """A generator that says `batched_transform` takes (N, 3, 3): each picture moves by its
        own matrix, exactly as when it is rendered alone (what the worker's latent in-between
        frames rely on while the performer turns or moves the picture)."""
        from latentperform.models.stylegan3 import rotate_translate
        G = self.make_generator()
        if not getattr(G, "batched_transform", False):
            return  # it takes one (3, 3) for the whole batch, and the worker knows it
        z, c = self._z(G), self._c(G)
        mats = torch.stack([rotate_translate(20.0, 0.1, 0.0), rotate_translate(-35.0, -0.05, 0.1)])
        with torch.no_grad():
            ws = G.mapping(z, c)
            both = G.synthesis(ws, transform=mats)
            alone = [G.synthesis(ws[i:i + 1], transform=mats[i]) for i in range(2)]
            still = G.synthesis(ws)
        for i in range(2):
            torch.testing.assert_close(both[i:i + 1], alone[i], atol=1e-4, rtol=1e-4)
        assert (both - still).abs().mean() > 1e-3, "the transforms should move the pictures"
