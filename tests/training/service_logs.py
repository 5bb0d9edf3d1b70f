"""The log lines one GenerationService wrote, among everything captured in the process."""

from __future__ import annotations

from train_svc.generation.service import GenerationService


def own_lines(logs: list[dict], service: GenerationService) -> list[dict]:
    """`service`'s lines, and the unbound ones (pipeline loads): a session-wide test stack's idle timer may
    release that stack's own pipeline while a test captures logs."""
    return [entry for entry in logs if entry.get("generations") in (None, str(service.store.root))]
