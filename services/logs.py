"""Logging shared by the services: every line carries the request id it belongs to.

The gateway takes the id from the caller's ``X-Request-ID`` header (or makes one), puts it
in :data:`REQUEST_ID` for the duration of the request and sends it to the worker as gRPC
metadata ``x-request-id``; the worker puts it in :data:`REQUEST_ID` too. Lines logged
outside a request show ``-``.
"""

from __future__ import annotations

import contextvars
import logging
import sys

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
FORMAT = "%(asctime)s %(levelname)s %(service)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (from :data:`REQUEST_ID`) and ``service`` to every record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.service = self.service
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send all logging to stderr in :data:`FORMAT` (for a service's ``__main__``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter(service))
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
