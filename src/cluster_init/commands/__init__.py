"""The CLI's commands, one module each, all of one shape:

- `NAME`, `SUMMARY`: the command's name and one-line help;
- `arguments(parser)`: adds its arguments to its own sub-parser;
- `run(args) -> int`: runs it; bad input raises `errors.InputError` (exit 2), a runtime failure
  `errors.RuntimeFailure` (exit 1); `cli.py` turns those (and anything unexpected) into exit codes.

Modules here import almost nothing at the top (not even argparse): `plan` starts helm from this package before
argparse is loaded, and `--help` loads them all; what a command runs on is imported inside its `run`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

NAMES = ("validate", "plan", "render", "images", "bootstrap", "watch", "status", "kubeconfig", "pivot", "mirror",
         "cleanup")
OFFLINE = ("validate", "plan", "render", "images")  # commands that touch no cluster


def command(name: str) -> ModuleType:
    import importlib

    return importlib.import_module(f"cluster_init.commands.{name}")
