"""Checking real answers against the app's own OpenAPI document.

OpenAPI 3.1 schemas are JSON Schema 2020-12; jsonschema_rs (installed with schemathesis)
validates them, formats (date-time, uri) included.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def openapi_path(rule: str) -> str:
    """A Flask rule as the document spells its path: `<path:doc_id>` -> `{id}`."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: "{" + _camel(m.group(1)) + "}", rule)


def _camel(name: str) -> str:
    if name == "doc_id":
        return "id"
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class DocumentedAnswers:
    """Validates answers against the document and remembers which ones it saw."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: set[tuple[str, str, int]] = set()

    def response_spec(self, method: str, path: str, status: int) -> dict[str, Any]:
        """The documented response; AssertionError when the status is not documented."""
        operation = self.document["paths"].get(path, {}).get(method.lower())
        assert operation is not None, f"{method} {path} is not documented"
        response: dict[str, Any] | None = operation["responses"].get(str(status))
        assert response is not None, f"{method} {path} does not document {status}"
        return response

    def check(self, method: str, path: str, status: int, content_type: str, body: Any) -> None:
        """One answer: its status is documented and its body fits that status' schema."""
        response = self.response_spec(method, path, status)
        self.seen.add((method.lower(), path, status))
        media = content_type.split(";")[0].strip()
        content = response.get("content")
        if content is None:
            return
        assert media in content, f"{method} {path} {status}: {media} is not documented"
        if media != "application/json":
            return
        problems = self.problems(content[media]["schema"], body)
        assert not problems, f"{method} {path} {status}: {problems} in {body!r:.600}"

    def problems(self, schema: dict[str, Any], body: Any) -> list[str]:
        """What is wrong with `body` against `schema` (whose $refs point into the document)."""
        root = {"$schema": DIALECT, "components": self.document["components"], **schema}
        validator = jsonschema_rs.validator_for(root, validate_formats=True)
        return [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(body)]

    def check_flask(self, app: Any, answer: Any) -> Any:
        """A Flask test client answer, its route found in the app's URL map."""
        request = answer.request
        rule, _ = app.url_map.bind("localhost").match(
            request.path, method=request.method, return_rule=True
        )
        body = answer.get_json(silent=True) if answer.is_json else None
        self.check(
            request.method, openapi_path(rule.rule), answer.status_code, answer.content_type, body
        )
        return answer
