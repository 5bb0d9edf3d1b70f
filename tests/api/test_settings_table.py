"""`--help` and the README's settings tables come from the same config classes and agree."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.settings_readme import README, expected_tables, readme_tables


def test_the_readme_tables_are_the_ones_the_config_classes_render():
    found = readme_tables(README.read_text())
    for service, table in expected_tables().items():
        assert found[service] == table, f"README settings of {service} are stale: run python -m tests.settings_readme"


@pytest.mark.integration  # a child process per service
@pytest.mark.parametrize(
    ("module", "flags"),
    [("train_svc", ["--seed", "--quota-storage-bytes"]), ("preprocess_svc", ["--internal-principals", "--cache"])],
)
def test_help_lists_every_setting_with_its_variable(module, flags):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    table = expected_tables()[module]
    for line in table.splitlines()[2:]:
        flag = line.split("`")[1]
        assert flag in done.stdout
    for flag in flags:
        assert flag in done.stdout
