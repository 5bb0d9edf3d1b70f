"""The local CLI's child services see the caller's environment minus the services' own settings."""

from __future__ import annotations

from train_svc.cli.local_services import child_environment


def test_service_settings_are_dropped_and_process_wide_variables_kept(monkeypatch):
    monkeypatch.setenv("LTX_AUTH_TOKENS", "/etc/tokens")  # would turn authentication on in the children
    monkeypatch.setenv("TRAIN_SVC_PORT", "1")
    monkeypatch.setenv("PREPROCESS_WORKERS", "64")
    monkeypatch.setenv("LTX_TRAINER_CACHE", "/cache/models")
    monkeypatch.setenv("LTX_LOG_LEVEL", "debug")
    monkeypatch.setenv("HF_HOME", "/hf")
    env = child_environment()
    assert not {"LTX_AUTH_TOKENS", "TRAIN_SVC_PORT", "PREPROCESS_WORKERS"} & env.keys()
    assert env["LTX_TRAINER_CACHE"] == "/cache/models" and env["LTX_LOG_LEVEL"] == "debug"
    assert env["HF_HOME"] == "/hf" and "PATH" in env
