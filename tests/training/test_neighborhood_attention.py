"""The decoder's neighbourhood attention computed by gathering windows equals diffusers' own (FlexAttention
with a block mask), module by module and through the whole LTX-2.5 diffusion decoder, and the windows are
the ones diffusers' mask describes: centred, shifted inward at the edges, always full."""

from __future__ import annotations

import pytest
import torch

from train_svc.generation.neighborhood_attention import GatheredNeighborhoodAttention, install, window_index

# diffusers' processor, the reference here, warns that it runs FlexAttention unfused: that is its cost, measured
# in the README, not a fault of the test.
pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")


def _decoder():
    from diffusers.models.autoencoders.ltx2_diffusion_decoder import LTX2VideoDiffusionDecoderModel

    torch.manual_seed(0)
    return LTX2VideoDiffusionDecoderModel(
        latent_channels=8,
        decoder_head_dim=8,
        decoder_stage_channels=(64, 32, 16, 16, 8),
        decoder_stage_depths=(1, 1, 1, 1, 1),
        decoder_stage_kernels=((1, 1, 1), (1, 3, 3), (3, 3, 3), (3, 5, 5)),
        decoder_stage5_kernel=(3, 3, 3),
        decoder_t_emb_dim=16,
    ).eval()


def test_windows_are_centred_and_shifted_inward_at_the_edges():
    index = window_index(1, 1, 6, (1, 1, 3), torch.device("cpu"))
    assert index.tolist() == [[0, 1, 2], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [3, 4, 5]]
    grid = window_index(3, 4, 5, (3, 3, 3), torch.device("cpu"))
    assert grid.shape == (60, 27)
    assert all(len(set(row)) == 27 for row in grid.tolist())  # every window is full


@pytest.mark.parametrize("kernel", [(3, 3, 3), (1, 5, 3), (3, 1, 1)])
def test_one_attention_equals_the_flex_processor(kernel):
    from diffusers.models.autoencoders.ltx2_diffusion_decoder import LTX2VideoVaeNeighborhoodAttention

    torch.manual_seed(1)
    attn = LTX2VideoVaeNeighborhoodAttention(16, kernel, head_dim=8).eval()
    hidden = torch.randn(2, 3, 5, 6, 16)
    with torch.no_grad():
        want = attn(hidden)
        attn.set_processor(GatheredNeighborhoodAttention(chunk_elements=1000))  # several chunks
        got = attn(hidden)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_the_whole_decoder_decodes_the_same():
    decoder = _decoder()
    latents = torch.randn(1, 8, 2, 3, 3)
    with torch.no_grad():
        want = decoder.decode(latents, generator=torch.Generator().manual_seed(0), return_dict=False)[0]
        assert install(decoder) == 5
        got = decoder.decode(latents, generator=torch.Generator().manual_seed(0), return_dict=False)[0]
    assert got.shape == (1, 3, 9, 96, 96)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
