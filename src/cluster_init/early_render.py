"""The early render of `plan`: helm (and kustomize) started on the environment's own files before the command
line is even parsed, so that their run overlaps ours.

`plan` spends most of its time waiting for `helm template`. The command line is guessed from argv and
helm (and the environment's kustomize build) are spawned before argparse, pathlib or a YAML parser
are even imported; that work then runs while helm does. The guess counts only if argparse agrees
with it and kustomize builds exactly the files helm read; otherwise (an overlay, a helm error, an
unusual command line) the caller renders again the ordinary way. This module imports nothing heavy
on purpose: only `os` and `re`, which the interpreter and the console script have already loaded.
"""

from __future__ import annotations

import os

from cluster_init import helm, tools

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess

_VALUED_OPTIONS = {"--context", "-n", "--namespace", "-o", "--output"}
_FLAGS = {"--debug"}


class Target:
    """What `plan` will render: the environment folder, the context and the release namespace."""

    def __init__(self, env_dir: str, context: str, namespace: str) -> None:
        self.env_dir, self.context, self.namespace = env_dir, context, namespace

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Target) and vars(self) == vars(other)


def guess(argv: list[str]) -> Target | None:
    """The target of a `plan` command line, read without argparse; None when it is not a plain plan."""
    if argv[:1] != ["plan"]:
        return None
    options = {"--context": "bootstrap", "--namespace": "cluster-init"}
    positional: list[str] = []
    words = iter(argv[1:])
    for word in words:
        name, eq, value = word.partition("=")
        if word in _FLAGS:
            continue
        if name in _VALUED_OPTIONS:
            options["--namespace" if name == "-n" else name] = value if eq else next(words, "")
        elif word.startswith("-"):
            return None  # -h, an abbreviation, a combined flag: leave it to argparse
        else:
            positional.append(word)
    if len(positional) != 1:
        return None
    return Target(_as_pathlib_would(positional[0]), options["--context"], options["--namespace"])


def _as_pathlib_would(path: str) -> str:
    """str(Path(path)) without importing pathlib, for the usual spellings ('./env/', 'env//x')."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return ("/" if path.startswith("/") else "") + "/".join(parts) or "."


class _Child:
    """A spawned tool with stdout and stderr on pipes; collected once, killed if unwanted."""

    def __init__(self, argv: list[str]) -> None:
        import signal

        self.argv = argv
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.fds = [out_r, err_r]  # the read ends still open
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
        try:  # the child gets the signal defaults that Python changed for itself, as subprocess does
            self.pid: int | None = os.posix_spawn(argv[0], argv, tools.child_env(), file_actions=actions,
                                                  setsigdef=(signal.SIGPIPE, signal.SIGXFSZ), setpgroup=0)
        except OSError:
            self.pid = None
            self._close()
            raise
        finally:
            os.close(out_w)
            os.close(err_w)

    def collect(self) -> subprocess.CompletedProcess[str]:
        """Its output and exit code; a child still running after `tools.timeout()` is killed instead."""
        import subprocess

        limit = tools.timeout()
        try:
            out, err = _drain(self.fds, limit)
        except TimeoutError:
            self.kill()
            raise tools.timed_out(os.path.basename(self.argv[0]), limit) from None
        assert self.pid is not None
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        return subprocess.CompletedProcess(self.argv, os.waitstatus_to_exitcode(status), out, err)

    def kill(self) -> None:
        import contextlib
        import signal

        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it leads its own group: what it started goes too
                os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None
        self._close()

    def _close(self) -> None:
        while self.fds:
            os.close(self.fds.pop())


def _drain(fds: list[int], limit: float) -> tuple[str, str]:
    """Read the pipes (stdout, stderr) to their ends at once, closing each (and taking it out of `fds`) at its
    end: a tool blocked on a full stderr pipe would never finish its stdout. TimeoutError after `limit` s."""
    import select
    import time

    order = list(fds)
    chunks: dict[int, list[bytes]] = {fd: [] for fd in order}
    poller = select.poll()
    for fd in order:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + limit
    while fds:
        ready = poller.poll(max(0, int((deadline - time.monotonic()) * 1000)))
        if not ready:
            raise TimeoutError
        for fd, _ in ready:
            if chunk := os.read(fd, 1 << 16):
                chunks[fd].append(chunk)
            else:
                poller.unregister(fd)
                fds.remove(fd)
                os.close(fd)
    out, err = (b"".join(chunks[fd]).decode("utf-8", errors="replace") for fd in order)
    return out, err


class EarlyRender:
    """helm and kustomize, started on a target's files; their results, checked before use."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.files = [os.path.join(target.env_dir, name) for name in ("values.yaml", "secrets.yaml")]
        self.helm: _Child | None = None
        self.kustomize: _Child | None = None
        helm_path, kustomize = tools.tool_path("helm"), tools.tool_path("kustomize")
        if all(map(os.path.isfile, self.files)) and tools.runnable(helm_path) and tools.runnable(kustomize):
            values = [arg for f in self.files for arg in ("-f", f)]
            try:
                self.helm = _Child([helm_path, *helm.template_args(target.context, target.namespace), *values])
                self.kustomize = _Child([kustomize, "build", target.env_dir])
            except OSError:  # not runnable after all: the ordinary path will say why
                self.cancel()
                self.helm = self.kustomize = None

    def build(self) -> subprocess.CompletedProcess[str]:
        """The environment's `kustomize build`: the one started alongside helm, or a fresh one."""
        if self.kustomize is None:
            return tools.run("kustomize", ["build", self.target.env_dir])
        return self.kustomize.collect()

    def output(self, built_texts: list[str]) -> str | None:
        """helm's output, if it succeeded and kustomize built exactly the files helm read."""
        if self.helm is None:
            return None
        result = self.helm.collect()
        same = built_texts == [_read_text(f) for f in self.files]
        return result.stdout if result.returncode == 0 and same else None

    def cancel(self) -> None:
        for child in (self.helm, self.kustomize):
            if child is not None:
                child.kill()


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()
