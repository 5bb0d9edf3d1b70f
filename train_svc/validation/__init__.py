"""Validation previews: the request's validation prompts rendered with the LoRA as trained so far.

schedule.py (which steps), renderer.py (LTX2Pipeline around the training transformer), previews.py (one
job's previews: files, JPEG frames, events), thumbnails.py (JPEG frames), reel.py (preview.mp4).
"""
