"""Running one job: its samples encoded, the LoRA trained, previews rendered, the outputs exported."""
