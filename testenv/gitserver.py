"""A test stand-in for the user's git remote (GitLab, Gitea, …): git's own smart-HTTP server, `git http-backend`,
behind HTTP basic auth, serving the bare repositories of one folder.

Flux's source-controller clones from it like from any https remote with a `secretRef` of username and password.
It listens on the host's address on the kind Docker network, which the kind clusters' pods reach (and nothing
beyond this machine does). Runs in a thread of the test process; `stop()` ends it.
"""

from __future__ import annotations

import base64
import hmac
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


def kind_gateway(network: str = "kind") -> str:
    """The host's IPv4 address on `network`: where pods of the kind clusters reach a host process."""
    proc = subprocess.run(["docker", "network", "inspect", network, "--format",
                           "{{range .IPAM.Config}}{{.Gateway}} {{end}}"], capture_output=True, text=True, check=True)
    return next(a for a in proc.stdout.split() if "." in a)


class _Backend(BaseHTTPRequestHandler):
    root: Path
    credentials: tuple[str, str]

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:  # quiet: the tests read their own output
        pass

    def _authorized(self) -> bool:
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        given = (self.headers.get("Authorization") or "").removeprefix("Basic ")
        return hmac.compare_digest(given, expected)

    def _serve(self) -> None:
        if not self._authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {"GIT_PROJECT_ROOT": str(self.root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": url.path,
               "QUERY_STRING": url.query, "REQUEST_METHOD": self.command, "REMOTE_USER": self.credentials[0],
               "CONTENT_TYPE": self.headers.get("Content-Type") or "", "CONTENT_LENGTH": str(len(body)),
               "GIT_PROTOCOL": self.headers.get("Git-Protocol") or "", "PATH": "/usr/bin:/bin"}
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def serving(root: Path, username: str, password: str, host: str | None = None) -> Iterator[str]:
    """Serve the bare repositories under `root`; yields the base URL (http://HOST:PORT)."""
    handler = type("Backend", (_Backend,), {"root": root, "credentials": (username, password)})
    server = ThreadingHTTPServer((host or kind_gateway(), 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        address, port = server.server_address[:2]
        yield f"http://{address!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
