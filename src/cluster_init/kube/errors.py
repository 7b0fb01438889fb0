"""The two ways talking to a cluster fails: an unusable kubeconfig, and a failed request."""

from __future__ import annotations

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used: the message is one line naming the file and what is wrong."""


class ApiError(Exception):
    """A request failed. `status` is the HTTP status, 0 when the server was not reached."""

    def __init__(self, status: int, reason: str, message: str, method: str, path: str) -> None:
        self.status, self.reason, self.message, self.method, self.path = status, reason, message, method, path
        where = f"{method} {path}"
        super().__init__(f"{where}: HTTP {status} {reason}: {message}" if status else f"{where}: {message}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def gone(self) -> bool:
        """410: a resourceVersion or continue token too old to resume from; list again."""
        return self.status == 410

    @property
    def conflict(self) -> bool:
        """409: an optimistic-concurrency conflict or (reason AlreadyExists) a duplicate create."""
        return self.status == 409

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status in RETRY_STATUSES


class Unreachable(ApiError):
    """The server was never reached by this client (refused connection, unknown host, TLS refused): a wrong
    address or a cluster that is not running, so it is reported at once instead of retried."""

    def __init__(self, server: str, why: str, method: str, path: str) -> None:
        super().__init__(0, "", f"cannot reach {server}: {why}", method, path)
        self.server, self.why = server, why
