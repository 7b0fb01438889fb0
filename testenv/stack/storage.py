"""kind's default storage for the offline stack: local-path-provisioner and its helper, built here.

kind's node-image builder writes /kind/manifests/default-storage.yaml and preloads the two images that
manifest names; `kind create cluster` applies the file. Without it kind falls back to a host-path class
that provisions nothing. The images keep the names kind v0.33 gives them (the `stack:` pin table), the
provisioner built from the served module (v0.0.30), the helper a Debian userland (it only runs
`sh`, `mkdir` and `rm` on the node's volume folder).
"""

from __future__ import annotations

from pathlib import Path

from testenv.stack import gobuild, images
from testenv.stack.gobuild import GoBinary
from testenv.stack.versions import stack

MANIFEST = Path(__file__).resolve().parent / "manifests" / "local-path-storage.yaml"


def provisioner_image() -> str:
    pin = stack("local-path-provisioner")
    binary = gobuild.ensure(GoBinary("local-path-provisioner", pin["module"], pin["version"], pin["module"]))
    return images.static_image(pin["image"], binary, "/usr/local/bin/local-path-provisioner")


def helper_image(userland: str) -> str:
    """The helper pods' image: a shell and coreutils is all they need. `userland` is a Debian rootfs image the
    node already carries (the network images'), so the helper adds no layer of its own."""
    return images.build(stack("local-path-provisioner")["helper_image"], f"FROM {userland}\n", {})


def storage_images(userland: str) -> list[str]:
    return [provisioner_image(), helper_image(userland)]


def manifest() -> str:
    """default-storage.yaml with the image names the stack builds."""
    pin = stack("local-path-provisioner")
    return MANIFEST.read_text().replace("PROVISIONER_IMAGE", pin["image"]).replace("HELPER_IMAGE", pin["helper_image"])
