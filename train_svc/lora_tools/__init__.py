"""Offline tools for LoRA files (`ltx-trainer lora ...`): read, inspect, check against a base, and transform.

Nothing here needs a GPU, a running service or the base model's weights: the base's layer shapes come from
its config, built on the meta device.
"""
