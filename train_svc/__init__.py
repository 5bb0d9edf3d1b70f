"""GPU-side service: training jobs, LoRA training and export for LTX-2.3."""
