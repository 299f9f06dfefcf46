"""What the images are built from: the wheel carries every file the runtime reads, and
the Dockerfiles agree with how the chart and the operator's Deployments run them.

No Docker engine is needed: the wheel is the images' whole content besides the base.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=False,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = out.glob("storefleet-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def tracked(part: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", part], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return listed.stdout.split()


def test_the_wheel_carries_every_file_the_runtime_reads(wheel_files: set[str]) -> None:
    missing = [
        path
        for path in tracked("runtime")
        if "/__pycache__/" not in path and f"storefleet/{path}" not in wheel_files
    ]
    assert not missing, f"not in the wheel (add them to package-data): {missing}"


def dockerfile(name: str) -> str:
    return (ROOT / "images" / name / "Dockerfile").read_text()


def entry(text: str) -> list[str]:
    found = []
    for keyword in ("ENTRYPOINT", "CMD"):
        match = re.search(rf"^{keyword} (\[.*\])$", text, re.MULTILINE)
        assert match, keyword
        found += yaml.safe_load(match.group(1))
    return found


def test_the_runtime_image_runs_as_the_deployments_expect() -> None:
    text = dockerfile("runtime")
    assert entry(text)[0] == "storefleet"
    template = (ROOT / "templates" / "deployments.yaml.j2").read_text()
    assert 'args: ["runtime", "serve",' in template
    assert "runAsUser: 10001" in template
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    assert re.search(r"^EXPOSE 8000$", text, re.MULTILINE)


def test_the_operator_image_runs_as_the_chart_expects() -> None:
    text = dockerfile("operator")
    assert entry(text) == ["storefleet", "operator", "run"]
    chart = (ROOT / "charts/storefleet-operator/templates/statefulset.yaml").read_text()
    assert "args: [operator, run]" in chart
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    # Outside a source tree, the operator finds its CRDs and templates by these settings.
    for copied in ("crds", "templates"):
        assert f"COPY {copied} /opt/storefleet/share/{copied}" in text
        assert f"STOREFLEET_OPERATOR_{copied.upper()}_DIR=/opt/storefleet/share/{copied}" in text
