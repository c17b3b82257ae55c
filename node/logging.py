"""Structured logs of the node: JSON lines on stderr (stdout carries only the ready line).

Owns :class:`JsonFormatter` and :func:`configure_logging`. Context such as ``query_id``,
``method``, ``peer``, ``status`` and ``reason`` travels as ``extra={...}`` on a record and comes
out as top-level JSON keys. Key material never reaches a log: nothing here logs identities,
and :class:`RedactingFilter` blanks any PEM private-key block that slips into a message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

#: attributes every LogRecord has; anything else on a record is caller context
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
LOGGER_NAME = "swarmrank"


def get_logger(name: str) -> logging.Logger:
    """A logger under the ``swarmrank`` hierarchy (``get_logger("server")``)."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


class RedactingFilter(logging.Filter):
    """Blank PEM private-key blocks in messages: a belt to the braces of never logging keys."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "PRIVATE KEY" in message:
            record.msg = _PEM.sub("[redacted private key]", message)
            record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``msg`` and context keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value.hex() if isinstance(value, bytes) else value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Route the ``swarmrank`` loggers to ``stream`` (stderr) at ``level`` in ``fmt``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger(LOGGER_NAME)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
