"""Reading an ffmpeg command line in tests: its inputs and outputs, each with its own options, and the global ones.

ffmpeg applies an option to the next file named after it (an input after -i, or an output), except
global options, which it takes wherever they stand. parse_argv splits a command line that way, so a
test can say "-ss is an option of the input" rather than "-ss comes somewhere before -i".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

GLOBAL_FLAGS = frozenset({"-hide_banner", "-nostats", "-y", "-n"})  # global options that take no value
GLOBAL_OPTIONS = frozenset({"-loglevel", "-v", "-filter_complex"})  # global options that take one


@dataclass
class FfmpegCommand:
    binary: str
    inputs: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)  # (file, its options in order)
    outputs: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    global_flags: set[str] = field(default_factory=set)
    global_options: dict[str, str] = field(default_factory=dict)


def parse_argv(argv: Sequence[str]) -> FfmpegCommand:
    """Split argv (argv[0] the binary) into inputs, outputs and global options; fails on options left trailing."""
    command = FfmpegCommand(binary=argv[0])
    pending: list[tuple[str, str]] = []
    args = iter(argv[1:])
    for arg in args:
        if arg == "-i":
            command.inputs.append((next(args), pending))
            pending = []
        elif arg in GLOBAL_FLAGS:
            command.global_flags.add(arg)
        elif arg in GLOBAL_OPTIONS:
            command.global_options[arg] = next(args)
        elif arg.startswith("-") and arg != "-":
            pending.append((arg, next(args)))
        else:
            command.outputs.append((arg, pending))
            pending = []
    assert not pending, f"options after the last output apply to no file: {pending}"
    return command


def values(options: list[tuple[str, str]], name: str) -> list[str]:
    """Every value given to option `name`, in order (e.g. all -map)."""
    return [value for key, value in options if key == name]
