"""Generating videos with sound from a base model and an optional trained LoRA (no grpc, no CLI).

request.py (GenerationRequest), generator.py (Generator: LTX2Pipeline + LoRA), lora_check.py (does a LoRA
file fit the model), mp4.py (H.264 + AAC muxing). Import from the modules: this package stays light.
"""
