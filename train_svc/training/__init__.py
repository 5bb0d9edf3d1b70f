"""LoRA training for LTX2VideoTransformer3DModel: data encoding, sigma sampling, the loop."""
