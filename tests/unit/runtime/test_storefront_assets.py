"""Static asset URLs carry the file's digest, so a changed file gets a new URL."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from starlette.requests import Request

from storefleet.runtime.storefront.assets import StaticAssets


def _request(root_path: str = "") -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "root_path": root_path})


def test_the_url_names_the_content_and_changes_with_it(tmp_path: Path) -> None:
    (tmp_path / "site.css").write_text("body { color: black }")
    first = StaticAssets(tmp_path).url(_request(), "site.css")
    assert first.startswith("/static/site.css?v=")
    (tmp_path / "site.css").write_text("body { color: navy }")
    # A new process (a deploy) sees the new content under a new URL.
    second = StaticAssets(tmp_path).url(_request(), "site.css")
    assert second != first


def test_the_url_keeps_the_mount_prefix_of_the_shop(tmp_path: Path) -> None:
    (tmp_path / "site.js").write_text("")
    assert (
        StaticAssets(tmp_path)
        .url(_request("/shop/"), "site.js")
        .startswith("/shop/static/site.js?v=")
    )


@pytest.mark.parametrize("path", ["../secret.txt", "missing.css", "."])
def test_only_files_inside_the_directory_have_urls(tmp_path: Path, path: str) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (tmp_path / "secret.txt").write_text("no")
    with pytest.raises(LookupError):
        StaticAssets(static).url(_request(), path)


def test_templates_get_static_urls_from_it(tmp_path: Path) -> None:
    (tmp_path / "site.css").write_text("p {}")
    environment = jinja2.Environment(autoescape=True)
    StaticAssets(tmp_path).install(environment)
    html = environment.from_string("{{ url_for('static', path='site.css') }}").render(
        request=_request()
    )
    assert html == StaticAssets(tmp_path).url(_request(), "site.css")
