"""The pin table: every pin explains its bound, sits inside the published compatibility ranges, and the
README's version table is the one generated from it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hack"))

import pins  # noqa: E402
import upgrades  # noqa: E402

pytestmark = pytest.mark.t0


def test_readme_version_table_is_generated_from_the_pin_table() -> None:
    text = (ROOT / "README.md").read_text()
    assert pins.readme_with_table(text, pins.versions_markdown()) == text, "run `make readme-versions`"


def test_readme_table_follows_a_changed_pin() -> None:
    data = pins.table()
    data["upstreams"]["cluster-api"]["version"] = "v9.9.9"
    assert "`v9.9.9`" in pins.versions_markdown(data)
    assert "`v9.9.9`" not in pins.versions_markdown()


def test_every_pin_says_what_bounds_it_and_where_it_comes_from() -> None:
    for name, pin in pins.pins().items():
        assert pin.get("bound"), f"{name}: no `bound`"
        # An image that is no Go module keeps its publisher's tag (CAPD's haproxy: kind's date-and-commit tag).
        image_tag = "module" not in pin and "image_registry" in pin
        assert image_tag or upgrades.parse(pin["version"].split("+")[0]), \
            f"{name}: {pin['version']} is not a release version"
    sources = {n for n, p in pins.table()["upstreams"].items() if "kind" in p and p["kind"] != "HelmRepository"}
    assert all("module" in pins.table()["upstreams"][n] for n in sources)


def test_pins_sit_inside_every_compatibility_range() -> None:
    data = pins.table()
    for name, pin in pins.pins(data).items():
        assert upgrades.bound_problems(data, name, pin["version"]) == [], name
    assert upgrades.bound_problems(data, "etcd", data["twin"]["etcd"]) == []


@pytest.mark.parametrize(("name", "version", "expected"), [
    ("kubernetes", "v1.37.2", "cert-manager v1.21 supports kubernetes v1.33-v1.36"),
    ("kubernetes", "v1.32.9", "cluster-api v1.14 supports kubernetes v1.33-v1.37"),
    ("cluster-api", "v1.15.0", "no matrix entry for cluster-api v1.15"),
    ("etcd", "v3.7.3", "kubernetes v1.36 supports etcd v3.6-v3.6"),
])
def test_a_version_outside_a_range_is_reported(name: str, version: str, expected: str) -> None:
    problems = upgrades.bound_problems(pins.table(), name, version)
    assert any(expected in p for p in problems), problems


def minor(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.lstrip("v").split(".")[:2])


def test_no_pin_below_the_supported_floors() -> None:
    """Floors the issue set: no pin on a line upstream no longer supports."""
    data: dict[str, Any] = pins.table()
    up = data["upstreams"]
    assert minor(up["kubernetes"]["version"]) >= (1, 35)
    assert minor(up["cluster-api"]["version"]) >= (1, 13)
    assert minor(up["cert-manager"]["version"]) >= (1, 20)
    assert minor(up["flux"]["version"]) >= (2, 8)
    assert minor(data["tools"]["helm"]["version"]) >= (4, 0)
    assert up["kind-node"]["version"] == up["kubernetes"]["version"]
    assert data["twin"]["kubernetes"] == up["kubernetes"]["version"], "the twin runs the pinned Kubernetes"
    assert up["rke2"]["version"].split("+")[0] == up["kubernetes"]["version"]
