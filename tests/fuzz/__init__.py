"""Fuzz targets, runnable by hand with atheris; their pytest companions keep them working."""
