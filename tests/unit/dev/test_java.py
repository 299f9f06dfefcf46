"""Each Java server gets the newest installed JDK at least as new as it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from storefleet.dev import java


def make_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").touch(mode=0o755)
    (home / "release").write_text(f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\n')
    return home


@pytest.fixture
def jvm_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(java, "JVM_ROOTS", (tmp_path,))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    return tmp_path


def test_the_newest_qualifying_jdk_is_chosen(jvm_root: Path) -> None:
    make_jdk(jvm_root, "java-17-openjdk-amd64", "17.0.15")
    newest = make_jdk(jvm_root, "temurin-25-jdk-amd64", "25.0.3")
    assert java.java_home(17) == newest
    assert java.java(21) == newest / "bin" / "java"


def test_a_too_old_jdk_is_refused_with_what_is_installed(jvm_root: Path) -> None:
    make_jdk(jvm_root, "java-17-openjdk-amd64", "17.0.15")
    with pytest.raises(java.JavaNotFound, match=r"JDK 21 or newer.*java-17-openjdk-amd64 \(17\)"):
        java.java_home(21)


def test_a_folder_without_a_release_file_is_not_a_jdk(jvm_root: Path) -> None:
    (jvm_root / "openjdk-17" / "bin").mkdir(parents=True)
    jdk = make_jdk(jvm_root, "java-21", "21.0.2")
    assert java.java_home(17) == jdk
