"""Quiet the model libraries' own progress bars and chatter; our events and logs report progress."""

from __future__ import annotations

import warnings

from shared.logs import route_library_loggers


def quiet_model_libraries() -> None:
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    route_library_loggers()  # what they still log (errors) goes through our log renderer, as JSON in services
    warnings.filterwarnings("ignore", message=".*rope_parameters.*")
    # peft on a quantized base: merging would need torchao's config; the trainer never merges.
    warnings.filterwarnings("ignore", message="TorchaoLoraLinear was instantiated without")
