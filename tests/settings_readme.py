"""The README's settings tables, rendered from the services' config trees.

`python -m tests.settings_readme` rewrites them in README.md; tests/api/test_settings_table.py fails
when the README and the config classes disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from preprocess_svc import config as preprocess_config
from shared.settings import settings_table
from train_svc import config as train_config

README = Path(__file__).resolve().parents[1] / "README.md"
SERVICES = {
    "preprocess_svc": (preprocess_config.PreprocessServiceConfig, preprocess_config.SERVICE_ENV),
    "train_svc": (train_config.TrainServiceConfig, train_config.SERVICE_ENV),
}


def _block(service: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- settings:{service} -->\n)(.*?)(<!-- /settings:{service} -->)", re.DOTALL)


def expected_tables() -> dict[str, str]:
    return {service: settings_table(model, env) for service, (model, env) in SERVICES.items()}


def readme_tables(text: str) -> dict[str, str | None]:
    found = {}
    for service in SERVICES:
        match = _block(service).search(text)
        found[service] = match.group(2) if match else None
    return found


def main() -> int:
    text = README.read_text()
    for service, table in expected_tables().items():
        text, count = _block(service).subn(lambda m, t=table: m.group(1) + t + m.group(3), text)
        if count != 1:
            print(f"README.md has no <!-- settings:{service} --> block", file=sys.stderr)
            return 1
    README.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
