"""Build Vault v1.21.4 from its Go module against the published sdk.

Vault's go.mod replaces its sdk submodule with the sdk folder of its own
release branch, which matches no published sdk tag: v0.20.0 lacks functions
the release calls, and v0.21.0 (the version its go.mod names) differs from it
in two signatures — `framework.Backend.ActivationFunc` gained an argument and
`keysutil.LockManager.RestorePolicy` returns one value fewer. Three call sites
of the release disagree with v0.21.0, so the build copies the module from Go's
module cache into its cache entry, adapts those three calls there, and builds
from a generated main module that replaces github.com/hashicorp/vault with the
copy. Its go.mod and go.sum are the committed ones (dev/go/vault) plus that
replace, so every other module is still pinned by the committed go.sum. Go
refuses `-overlay` files inside the module cache, hence the copy. No Vault
source is kept in this repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from storefleet.dev.gobuild import BuildError, GoTool
from storefleet.dev.gomodule import module_dir

# file in the vault module -> (text as released, text that fits sdk v0.21.0)
PATCHES = {
    "vault/identity_store.go": (
        "ActivationFunc: iStore.activateDeduplication,",
        "ActivationFunc: func(ctx context.Context, req *logical.Request, _ string) error {"
        " return iStore.activateDeduplication(ctx, req) },",
    ),
    "vault/logical_system_activation_flags.go": (
        "b.idStoreBackend.ActivationFunc(ctx, nil)",
        'b.idStoreBackend.ActivationFunc(ctx, nil, "")',
    ),
    # The restored name only labels an observation; the request's name is it.
    "builtin/logical/transit/path_restore.go": (
        "restoredKeyName, err := b.lm.RestorePolicy(",
        "restoredKeyName, err := keyName, b.lm.RestorePolicy(",
    ),
}


def _adapted_source(tool: GoTool, entry: Path) -> Path:
    source = entry / "src"
    if source.is_dir():
        return source
    partial = entry / "src.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(module_dir(tool.module, tool.version), partial, copy_function=shutil.copy)
    # The module cache is read-only, and so is a copy of it until this.
    for path in [partial, *partial.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    for relative, (released, adapted) in PATCHES.items():
        file = partial / relative
        text = file.read_text()
        if text.count(released) != 1:
            raise BuildError(f"{file}: expected one `{released}` to adapt")
        file.write_text(text.replace(released, adapted))
    partial.replace(source)
    return source


def _main_module(tool: GoTool, entry: Path) -> Path:
    """The committed module plus a replace that points Vault at the adapted copy."""
    source = _adapted_source(tool, entry)
    main = entry / "main"
    main.mkdir(exist_ok=True)
    for name in ("go.sum", "tools.go"):
        shutil.copyfile(tool.module_dir / name, main / name)
    go_mod = (tool.module_dir / "go.mod").read_text()
    replace = f"\nreplace {tool.module} {tool.version} => {os.path.relpath(source, main)}\n"
    (main / "go.mod").write_text(go_mod + replace)
    return main


def build_vault(tool: GoTool) -> Path:
    """Build the `vault` command once into tool.bin_dir; return the binary."""
    [(command, package)] = tool.commands.items()
    target = tool.binary(command)
    if os.access(target, os.X_OK):
        return target
    go = shutil.which("go")
    if go is None:
        raise BuildError("the `go` command is needed to build the dev stack; install Go")
    tool.bin_dir.mkdir(parents=True, exist_ok=True)
    main = _main_module(tool, tool.bin_dir.parent)
    partial = target.with_name(f"{command}.partial")
    started = time.monotonic()
    print(f"building {command} ({tool.module} {tool.version}) ...", file=sys.stderr)
    argv = [go, "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w"]
    argv += ["-o", str(partial), package]
    # GOWORK=off: a go.work around the cache would change what gets built.
    env = {**os.environ, "GOWORK": "off"}
    result = subprocess.run(argv, cwd=main, env=env, check=False)
    if result.returncode != 0:
        raise BuildError(f"go build {package} failed (exit {result.returncode})")
    # Renamed only once complete, so an interrupted build is redone.
    partial.replace(target)
    print(f"built {command} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return target
