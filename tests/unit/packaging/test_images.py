"""What the images are built from: each part's wheel carries every file of its
source and declares every library it imports, and the Dockerfiles agree with how
the chart and the operator's Deployments run them.

No Docker engine is needed: the wheels are the images' whole content besides the base.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


PARTS = ("cli", "operator", "runtime", "dev")


def wheel_files(part: str, out: Path) -> set[str]:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT / part)],
        check=False,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert "warning" not in built.stderr.lower(), built.stderr[-3000:]
    (wheel,) = out.glob(f"storefleet_{part}-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def tracked(folder: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", folder], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return listed.stdout.split()


@pytest.mark.parametrize("part", ["runtime", "operator", "cli"])
def test_a_part_s_wheel_carries_every_file_of_its_source(part: str, tmp_path: Path) -> None:
    """Migrations, page templates and assets too: the images install the wheels."""
    files = wheel_files(part, tmp_path)
    source = f"{part}/src/"
    missing = [
        path[len(source) :]
        for path in tracked(source)
        if "/__pycache__/" not in path and path[len(source) :] not in files
    ]
    assert not missing, f"not in the {part} wheel (add them to its package-data): {missing}"
    others = sorted({name.split("/")[1] for name in files if name.startswith("storefleet/")})
    assert others == [part], f"the {part} wheel carries other parts: {others}"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(part: str) -> dict[str, set[str]]:
    """Each third-party top-level module a part's code imports, with the
    distributions that can provide it (several for a namespace like opentelemetry)."""
    provided = importlib.metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for path in (ROOT / part / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "storefleet":
                    continue
                found[top] = {canonical(d) for d in provided.get(top, [top])}
    return found


def declared(part: str) -> set[str]:
    metadata = importlib.metadata.metadata(f"storefleet-{part}")
    requires = metadata.get_all("Requires-Dist") or []
    return {canonical(re.split(r"[\[=<>!~; ]", r, maxsplit=1)[0]) for r in requires}


@pytest.mark.parametrize("part", PARTS)
def test_a_part_declares_every_library_its_code_imports(part: str) -> None:
    """Each image installs only its part's dependencies: an undeclared one would be
    missing in the pod."""
    requires = declared(part)
    missing = sorted(top for top, dists in imported_modules(part).items() if not dists & requires)
    assert not missing, f"storefleet-{part} imports {sorted(missing)} without declaring them"


def test_the_runtime_carries_no_kubernetes_client() -> None:
    """The shop's pods talk to no API server: neither Kopf nor a Kubernetes client."""
    assert not {"kopf", "kubernetes", "kubernetes-asyncio"} & declared("runtime")
    assert not {"fastapi", "sqlalchemy", "uvicorn"} & declared("operator")


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
