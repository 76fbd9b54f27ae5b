"""A threaded WSGI server on a free loopback port, in a background thread, for hosting fakes.

The registry is served by ``bale_tools.devserver.Server`` (``bale dev``'s own); the fakes use
this one so that they depend on nothing of the product.
"""

from __future__ import annotations

import threading

from werkzeug.serving import make_server


class Server:
    """Serve ``app`` on 127.0.0.1 (``port=0``: a free port, known as soon as it is made)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        self.httpd = make_server(host, port, app, threaded=True)
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name=f"fake-server:{self.port}", daemon=True
        )

    def start(self) -> Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()
            self._thread.join(timeout=10)
        self.httpd.server_close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
