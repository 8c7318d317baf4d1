"""A rival for bench/web_servers.py, not used by msgbuffer: uvicorn's h11 protocol plus the
header read timeout uvicorn lacks (its only timer is armed after a response:
uvicorn/protocols/http/h11_impl.py). A connection whose next request has not started
(its headers complete) within HEADER_READ_TIMEOUT of the connection or of the last
response is closed. Serve with `uvicorn --http bench.h11_header_timeout:H11WithHeaderTimeout`.
"""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_READ_TIMEOUT = 10.0  # seconds, as the Procfile's granian --http1-header-read-timeout


class H11WithHeaderTimeout(H11Protocol):
    _header_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()

    def connection_lost(self, exc) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        waiting_after = self.cycle  # a new request's headers make a new cycle
        self._header_timer = self.loop.call_later(HEADER_READ_TIMEOUT, self._header_timeout, waiting_after)

    def _header_timeout(self, waiting_after) -> None:
        if self.cycle is waiting_after and not self.transport.is_closing():
            self.transport.close()
