"""Gunicorn's logs in shopsync's format, and its access log without secrets.

Gunicorn's default access line carries the Basic-auth user (`%(u)s`) and the full request
line with its query string (`%(r)s`); a client that puts `?api_key=` or an OAuth `code` in a
URL would have it written to the log. This logger redacts them whatever
`access_log_format` says, and renders gunicorn's error and access lines with the formatter
every other shopsync line uses (config_db.logs).
"""

from __future__ import annotations

import re
import traceback
from typing import Any
from urllib.parse import parse_qsl, urlencode

from gunicorn.glogging import Logger

from config_db.logs import build_formatter, configure_logging
from config_db.settings import Settings

REDACTED = "[redacted]"
# A parameter whose name contains one of these is treated as a secret (case-insensitive).
SECRET_PARAMETER = re.compile(
    r"key|token|secret|passw|signature|hmac|code|auth|session|credential|jwt", re.IGNORECASE
)
# Header atoms `%({name}i)s` and environ atoms `%({name}e)s` that may hold a secret.
SECRET_ATOM = re.compile(
    r"^\{(authorization|x-api-key|cookie|proxy-authorization|x-shopify-hmac-sha256|"
    r"shopify-hmac-sha256|x-shopify-access-token|http_authorization|http_x_api_key|"
    r"http_cookie|http_proxy_authorization|http_x_shopify_hmac_sha256|"
    r"http_x_shopify_access_token|query_string|raw_uri|request_uri|referer|http_referer|"
    r"location|set-cookie)\}[ieo]$",
    re.IGNORECASE,
)


def redact_query(query: str) -> str:
    """The query string with the value of every secret-looking parameter replaced."""
    if not query:
        return query
    # Some servers and clients also split on ";": a secret after one must not hide there.
    pairs = parse_qsl(query.replace(";", "&"), keep_blank_values=True)
    return urlencode(
        [(name, REDACTED if SECRET_PARAMETER.search(name) else value) for name, value in pairs],
        safe="[]",
    )


def redact_uri(uri: str) -> str:
    path, mark, query = uri.partition("?")
    return path + mark + redact_query(query) if mark else path


class RedactingLogger(Logger):
    """gunicorn's Logger in shopsync's log format; its access-log atoms never show a secret."""

    def setup(self, cfg: Any) -> None:
        """Gunicorn's handlers (error log, access log) get shopsync's formatter."""
        super().setup(cfg)
        log_format = configure_logging(Settings())
        formatter = build_formatter(log_format)
        for gunicorn_log in (self.error_log, self.access_log):
            for handler in gunicorn_log.handlers:
                if getattr(handler, "_gunicorn", False):  # gunicorn's mark on its own
                    handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """Gunicorn's access line, with method, path, status and duration as fields too."""
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        fields = {
            "method": atoms["m"],
            "path": atoms["U"],  # no query string: its values may be secrets
            "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
            "durationMs": round(atoms["D"] / 1000, 3),
        }
        request_id = atoms.get("{x-request-id}o", "-")  # set by config_db.request_ids
        if request_id != "-":
            fields["requestId"] = request_id
        try:
            self.access_log.info(
                self.cfg.access_log_format, self.atoms_wrapper_class(atoms), extra=fields
            )
        except Exception:  # noqa: BLE001 - as gunicorn's own access(): never fail a request
            self.error(traceback.format_exc())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["u"] = "-"
        atoms["f"] = redact_uri(str(environ.get("HTTP_REFERER") or "-"))
        atoms["q"] = redact_query(str(environ.get("QUERY_STRING") or ""))
        atoms["r"] = "{} {} {}".format(
            environ.get("REQUEST_METHOD"),
            redact_uri(str(environ.get("RAW_URI") or environ.get("PATH_INFO") or "")),
            environ.get("SERVER_PROTOCOL"),
        )
        for name in list(atoms):
            if SECRET_ATOM.match(name):
                atoms[name] = REDACTED
        return atoms
