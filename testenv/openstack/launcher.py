"""Serve one OpenStack WSGI application with gunicorn: `launcher.py MODULE HOST:PORT -- OSLO ARGS...`.

Run by the test cloud's venv (its packages are not in the project's venv: mypy skips this file). The
projects' `<pkg>/wsgi/*.py` modules build their application at import and let oslo.config parse
`sys.argv`, which must then hold their own options, not gunicorn's."""
# mypy: ignore-errors

import importlib
import sys

from gunicorn.app.base import BaseApplication


class Server(BaseApplication):
    def __init__(self, module: str, bind: str) -> None:
        self.module = module
        self.bind = bind
        super().__init__()

    def load_config(self) -> None:
        # keepalive: gunicorn's default (2 s) closes idle connections while clients that poll every few
        # seconds are about to reuse them, and the request in flight fails with RemoteDisconnected.
        for key, value in {"bind": self.bind, "workers": 1, "worker_class": "gthread", "threads": 8,
                           "timeout": 300, "graceful_timeout": 5, "keepalive": 75, "accesslog": None}.items():
            self.cfg.set(key, value)

    def load(self):
        return importlib.import_module(self.module).application


def main() -> None:
    module, bind, separator, *oslo_args = sys.argv[1:]
    assert separator == "--", __doc__
    sys.argv = [module.rsplit(".", 1)[0], *oslo_args]
    Server(module, bind).run()


if __name__ == "__main__":
    main()
