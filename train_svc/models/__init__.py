"""Base models: where an LTX-2.3 pipeline comes from and how its parts are loaded."""
