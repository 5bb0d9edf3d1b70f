"""Typed settings from flags and the environment, declared once on the config classes themselves.

A component's config is a frozen pydantic model beside the component; a field that an operator may set
carries a `Setting` (its flag, environment variable and help). A service's config nests the components'
models; `load_settings` turns that tree into one argparse parser (`--help`), reads the environment,
and validates everything with pydantic in one step, so a bad value anywhere is one clear error naming
the flag and the variable. `settings_table` renders the same tree as the README's table.
"""

from shared.settings.loader import load_settings
from shared.settings.setting import Setting, SettingsModel
from shared.settings.table import settings_table
from shared.settings.tree import SettingField, setting_fields

__all__ = [
    "Setting",
    "SettingField",
    "SettingsModel",
    "load_settings",
    "setting_fields",
    "settings_table",
]
