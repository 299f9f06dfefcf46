"""Container images for the real node, built here from our Dockerfiles.

No registry of container images is reachable, so every image a Store's pods run
is made on this machine: a Debian root filesystem from Debian's packages
(mmdebstrap), turned into a base image, then `images/*/Dockerfile` built on it
with buildah and written to an OCI archive that the node's containerd imports.
The sandbox ("pause") image is compiled from the k8s.io/kubernetes module.

Each archive is cached under `~/.cache/storefleet/images/` by a hash of all its
inputs (the Dockerfile, the files it copies, the base it builds on): an
unchanged tree builds nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from storefleet.dev.debian import ensure_packages
from storefleet.dev.gomodule import module_dir
from storefleet.dev.paths import REPOSITORY, cache_lock, cache_root

REPO: Final = REPOSITORY
SUITE: Final = "bookworm"
# The base every image builds on: a Python for our images, sh and coreutils for
# the volume provisioner's helper pods, apt for the datastore images.
BASE_PACKAGES: Final = ("python3.11", "python3.11-venv", "python-is-python3", "ca-certificates")
BASE_REFERENCE: Final = "localhost/storefleet/base"
# Package traffic may pass a TLS-inspecting proxy that only the host trusts:
# build steps see the host's bundle (never copied into an image).
HOST_CA_BUNDLE: Final = Path("/etc/ssl/certs/ca-certificates.crt")
PAUSE_VERSION: Final = "3.10"


class ImageBuildError(RuntimeError):
    """An image could not be built; the message says which and why."""


def package_version() -> str:
    """The CLI part's version (every part carries the same): the tag of our own images."""
    project = tomllib.loads((REPO / "cli" / "pyproject.toml").read_text())["project"]
    return str(project["version"])


@dataclass(frozen=True)
class Image:
    """One image built from a Dockerfile under images/."""

    name: str
    repository: str
    # Paths under the repository that the Dockerfile copies: they key the cache.
    inputs: tuple[str, ...] = ()
    # The Dockerfile's ARG that names the image it builds on.
    base_arg: str = "BASE_IMAGE"
    tag: str = field(default_factory=package_version)

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def dockerfile(self) -> Path:
        return REPO / "images" / self.name / "Dockerfile"


# The images a Store's pods and the chart run, by name.
IMAGES: Final = {
    "runtime": Image(
        "runtime",
        "ghcr.io/storefleet/runtime",
        inputs=("cli", "runtime"),
        base_arg="PYTHON_IMAGE",
    ),
    "operator": Image(
        "operator",
        "ghcr.io/storefleet/operator",
        inputs=("cli", "operator", "crds", "templates"),
        base_arg="PYTHON_IMAGE",
    ),
    "postgres": Image("postgres", "ghcr.io/storefleet/postgres", inputs=("images/postgres",)),
    "redis": Image("redis", "ghcr.io/storefleet/redis", inputs=("images/redis",)),
}


@dataclass(frozen=True)
class Archive:
    """A built image: its reference, the OCI archive holding it, and the input hash."""

    reference: str
    path: Path
    key: str


def images_cache() -> Path:
    path = cache_root() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_tools() -> None:
    ensure_packages(["buildah"], "buildah")
    ensure_packages(["mmdebstrap"], "mmdebstrap")


def _digest(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _files(paths: tuple[str, ...]) -> Iterator[Path]:
    for name in paths:
        path = REPO / name
        if path.is_file():
            yield path
            continue
        for found in sorted(path.rglob("*")):
            if found.is_file() and not _unbuilt(found):
                yield found


def _unbuilt(path: Path) -> bool:
    """Made by tools in the checkout (caches, an editable install's metadata), not source."""
    return any(part in _TOOL_FOLDERS or part.endswith(".egg-info") for part in path.parts)


_TOOL_FOLDERS: Final = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache"})


def input_key(image: Image, base_key: str) -> str:
    parts: list[str | bytes] = [base_key, image.reference, image.dockerfile.read_bytes()]
    for path in _files(image.inputs):
        parts += [str(path.relative_to(REPO)), path.read_bytes()]
    return _digest(*parts)


def _run(argv: list[str], *, what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(argv, cwd=cwd, check=False)
    if result.returncode != 0:
        raise ImageBuildError(f"{what} failed (exit {result.returncode}): {' '.join(argv)}")


def _buildah(*args: str, what: str, cwd: Path | None = None) -> None:
    _run(["buildah", *args], what=what, cwd=cwd)


def _oci_archive(reference: str, target: Path) -> None:
    """Write reference to target as an OCI archive, atomically."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    _buildah("push", reference, f"oci-archive:{partial}:{reference}", what=f"saving {reference}")
    partial.replace(target)


def _timed(report: Callable[[str], None], what: str, started: float) -> None:
    report(f"{what} in {time.monotonic() - started:.0f}s")


def base(report: Callable[[str], None] = print) -> tuple[str, str]:
    """The base image (reference, key): a Debian root filesystem from Debian's packages."""
    ensure_tools()
    key = _digest(SUITE, *BASE_PACKAGES)
    reference = f"{BASE_REFERENCE}:{key}"
    rootfs = images_cache() / f"base-{key}.tar"
    with cache_lock("images-base"):
        if rootfs.is_dir():  # left by a build that let mmdebstrap guess the format
            shutil.rmtree(rootfs)
        if not rootfs.exists():
            started = time.monotonic()
            report(f"building the base root filesystem ({SUITE}: {', '.join(BASE_PACKAGES)}) ...")
            partial = rootfs.with_name(rootfs.name + ".partial")
            if partial.is_dir():
                shutil.rmtree(partial)
            partial.unlink(missing_ok=True)
            _run(
                [
                    "mmdebstrap",
                    "--quiet",
                    "--variant=minbase",
                    # Said, not guessed from the name: ".partial" would make a directory.
                    "--format=tar",
                    f"--include={','.join(BASE_PACKAGES)}",
                    SUITE,
                    str(partial),
                ],
                what="mmdebstrap",
            )
            partial.replace(rootfs)
            _timed(report, "built the base root filesystem", started)
        if not _in_storage(reference):
            with tempfile.TemporaryDirectory() as context:
                os.link(rootfs, Path(context) / "base.tar")
                _from_scratch(reference, Path(context), "ADD base.tar /", what="the base image")
    return reference, key


def base_archive(report: Callable[[str], None] = print) -> Archive:
    """The base image as an archive: the volume provisioner's helper pods run it."""
    reference, key = base(report)
    target = images_cache() / f"base-image-{key}.tar"
    with cache_lock("images-base"):
        if not target.exists():
            _oci_archive(reference, target)
    return Archive(reference, target, key)


def _from_scratch(reference: str, context: Path, steps: str, *, what: str) -> None:
    """Build reference from `FROM scratch` plus steps, with the files in context."""
    (context / "Containerfile").write_text(f"FROM scratch\n{steps}\n")
    _buildah("bud", "--quiet", "--isolation=chroot", "-t", reference, str(context), what=what)


def _in_storage(reference: str) -> bool:
    result = subprocess.run(
        ["buildah", "inspect", "--type=image", reference],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def build(image: Image, report: Callable[[str], None] = print) -> Archive:
    """The image's archive, built from its Dockerfile unless its inputs are unchanged."""
    base_reference, base_key = base(report)
    key = input_key(image, base_key)
    target = images_cache() / f"{image.name}-{key}.tar"
    with cache_lock(f"images-{image.name}"):
        if target.exists():
            return Archive(image.reference, target, key)
        started = time.monotonic()
        report(f"building {image.reference} from {image.dockerfile.relative_to(REPO)} ...")
        argv = [
            "bud",
            "--quiet",
            "--isolation=chroot",
            "--network=host",
            "--layers",
            f"--build-arg={image.base_arg}={base_reference}",
            "-f",
            str(image.dockerfile),
            "-t",
            image.reference,
        ]
        if HOST_CA_BUNDLE.exists():
            argv += [
                f"--volume={HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro",
                f"--build-arg=PIP_CERT={HOST_CA_BUNDLE}",
            ]
        _buildah(*argv, str(REPO), what=f"building {image.reference}")
        _oci_archive(image.reference, target)
        _timed(report, f"built {image.reference}", started)
    return Archive(image.reference, target, key)


def pause(kubernetes_version: str, report: Callable[[str], None] = print) -> Archive:
    """The sandbox image: pause.c from the k8s.io/kubernetes module, static, from scratch."""
    ensure_tools()
    source = module_dir("k8s.io/kubernetes", kubernetes_version) / "build/pause/linux/pause.c"
    reference = f"localhost/storefleet/pause:{PAUSE_VERSION}"
    key = _digest(reference, source.read_bytes())
    target = images_cache() / f"pause-{key}.tar"
    with cache_lock("images-pause"):
        if target.exists():
            return Archive(reference, target, key)
        cc = shutil.which("gcc") or shutil.which("cc")
        if cc is None:
            ensure_packages(["gcc", "libc6-dev"], "gcc")
            cc = "gcc"
        with tempfile.TemporaryDirectory() as context:
            binary = Path(context) / "pause"
            _run(
                [
                    cc,
                    "-Os",
                    "-Wall",
                    "-static",
                    f"-DVERSION=v{PAUSE_VERSION}",
                    "-o",
                    str(binary),
                    str(source),
                ],
                what="compiling pause.c",
            )
            _from_scratch(
                reference,
                Path(context),
                'COPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]',
                what="the pause image",
            )
        _oci_archive(reference, target)
    return Archive(reference, target, key)


def build_all(names: tuple[str, ...] = (), report: Callable[[str], None] = print) -> list[Archive]:
    wanted = names or tuple(IMAGES)
    unknown = [name for name in wanted if name not in IMAGES]
    if unknown:
        raise ImageBuildError(
            f"unknown image(s) {', '.join(unknown)}; choose from {', '.join(IMAGES)}"
        )
    return [build(IMAGES[name], report) for name in wanted]


def _err(message: str) -> None:
    print(message, file=sys.stderr)
