"""Shared helpers: run the CLI in-process, and build throw-away environment folders."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster_init.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = sorted(p.name for p in (ROOT / "environment-values").iterdir() if p.is_dir())
CONTEXTS = ("bootstrap", "management")


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def make_env(tmp_path: Path) -> Callable[..., Path]:
    """An environment folder copied from a shipped one, with values/secrets text replaced if given."""

    def make(base: str = "kubeadm-capd", values: str | None = None, secrets: str | None = None) -> Path:
        target = tmp_path / base
        shutil.copytree(ROOT / "environment-values" / base, target)
        if values is not None:
            (target / "values.yaml").write_text(textwrap.dedent(values))
        if secrets is not None:
            (target / "secrets.yaml").write_text(textwrap.dedent(secrets))
        return target

    return make
