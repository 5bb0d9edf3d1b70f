"""GPU-side service: training jobs, LoRA training and export for LTX-2.3."""

import logging as _logging

# torchao (--base-weights int8|fp8), imported by diffusers whenever it is installed, reports on every import
# that its optional CUDA kernels do not load on this machine, and torch's pytree warns about torchao's enums:
# warnings about nothing this service uses, printed to stderr before any logging is set up.
for _name in ("torchao", "torch.utils._pytree", "diffusers.quantizers.torchao.torchao_quantizer"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)
