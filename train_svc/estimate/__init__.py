"""Pre-flight estimates of a training job on a GPU: memory by part, time, cost, and what would make it fit."""
