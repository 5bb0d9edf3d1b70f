"""Our restated layout table against the installed diffusers' own LTX-2 conversion, on the real LTX-2.3
transformer (its committed config on the meta device): 724 of its 4,186 parameter names differ between the
layouts, and none of the 1,344 possible LoRA targets is among them."""

from __future__ import annotations

import pytest
from diffusers.loaders.lora_conversion_utils import _convert_non_diffusers_ltx2_lora_to_diffusers

from train_svc.lora_tools.keys import branch_of, make_key, parse_key
from train_svc.lora_tools.layouts import original_name
from train_svc.models.real_size import meta_component
from train_svc.training.lora_targets import target_module_names

pytestmark = pytest.mark.integration  # building the 19 B transformer on the meta device takes ~5 s


@pytest.fixture(scope="module")
def transformer():
    return meta_component("transformer")


def _diffusers_from_original(names: list[str]) -> dict[str, str]:
    """original name -> diffusers name, by diffusers' conversion of original-layout LoRA keys."""
    converted = _convert_non_diffusers_ltx2_lora_to_diffusers({f"diffusion_model.{n}": n for n in names})
    return {original: key.removeprefix("transformer.") for key, original in converted.items()}


def test_our_table_agrees_with_diffusers_on_every_parameter(transformer):
    names = [name for name, _ in transformer.named_parameters()]
    originals = [original_name(name) for name in names]
    assert (len(names), sum(o != n for o, n in zip(originals, names, strict=True))) == (4186, 724)
    back = _diffusers_from_original(originals)
    assert [back[o] for o in originals] == names


def test_no_lora_target_is_renamed_between_the_layouts(transformer):
    targets = target_module_names(transformer, audio=True, feed_forward=True)
    assert len(targets) == 1344
    assert _diffusers_from_original(targets) == {name: name for name in targets}
    assert all(original_name(name) == name for name in targets)
    for name in targets:
        key = make_key(name, "A", "comfyui")
        assert key == f"diffusion_model.{name}.lora_A.weight" and parse_key(key).module == name
    branches = [branch_of(name) for name in targets]
    assert (branches.count("video"), branches.count("audio")) == (48 * 14, 48 * 14)
