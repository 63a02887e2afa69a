"""A base for the tiny HTTP servers some kube tests stand up beside the emulated API."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler with a JSON reply helper; logs nothing (pytest shows what failed)."""

    protocol_version = "HTTP/1.1"

    def send_json(self, payload: Any, status: int = 200) -> None:
        """Answer with ``payload`` as a JSON body."""
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass
