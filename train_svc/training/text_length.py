"""Which texts the text encoder will cut: a caption or prompt longer than MAX_TEXT_TOKENS tokens is read
only up to there (as LTX2Pipeline does), and the job says so rather than losing the rest silently.

Counted with the base model's own tokenizer (special tokens included, as the pipeline adds them);
only the tokenizer is loaded, so a dataset served from the latent cache still loads no encoder.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from train_svc.training.encoding import MAX_TEXT_TOKENS


def overlong_texts(model_path: Path, texts: Iterable[str]) -> tuple[int, dict[str, int]]:
    """(the token limit, {text: its token count} for each distinct text over it)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path / "tokenizer", local_files_only=True)
    limit = min(int(tokenizer.model_max_length), MAX_TEXT_TOKENS)
    counts = {text: len(tokenizer(text, add_special_tokens=True)["input_ids"]) for text in set(texts)}
    return limit, {text: count for text, count in counts.items() if count > limit}
