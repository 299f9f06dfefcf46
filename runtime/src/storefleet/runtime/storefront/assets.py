"""The shop's static files, addressed by content: ``/static/site.css?v=<digest>``.

Templates ask for ``url_for('static', path=...)`` on every page. Starlette answers
that by walking every mounted app's routes (in ``serve all``, every service's
API) until one matches, which cost more than rendering the page itself; the
answer never changes while the process runs, so it is computed once per file.
The digest in the URL lets browsers keep a file until it changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request


class StaticAssets:
    def __init__(self, directory: Path, mount_path: str = "/static") -> None:
        self.directory = directory
        self.mount_path = mount_path
        self._versions: dict[str, str] = {}

    def version(self, path: str) -> str:
        known = self._versions.get(path)
        if known is None:
            file = (self.directory / path).resolve()
            if self.directory.resolve() not in file.parents or not file.is_file():
                raise LookupError(f"no static file {path!r}")
            known = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
            self._versions[path] = known
        return known

    def url(self, request: Request, path: str) -> str:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return f"{root}{self.mount_path}/{path}?v={self.version(path)}"

    def install(self, environment: jinja2.Environment) -> None:
        """Answer ``url_for('static', ...)`` from here; other names as Starlette does."""

        @jinja2.pass_context
        def url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> Any:
            request: Request = context["request"]
            if name == "static" and set(path_params) == {"path"}:
                return self.url(request, str(path_params["path"]))
            return request.url_for(name, **path_params)

        environment.globals["url_for"] = url_for
