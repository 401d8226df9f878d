"""The base install (no extras) runs every core command; optional features name their extra.

The test venv has every extra installed, so each check runs in a child interpreter whose
import system refuses the packages only an extra brings: a module in the base import path
that needs one fails here exactly as it would after `pip install clusterdash`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]

# Modules that belong to an optional feature and are only imported once its extra is there.
OPTIONAL_MODULES = {
    "web": ("tui.web.server", "tui.web.session"),
    "mcp": ("tui.mcp_server.confirm", "tui.mcp_server.server"),
}


def _requirements(distribution: str, extra: str = "") -> list[Requirement]:
    found = []
    for line in metadata.requires(distribution) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
            found.append(requirement)
    return found


def _closure(names: set[str]) -> set[str]:
    """Distributions needed by `names`, transitively (extras of dependencies ignored)."""
    seen: set[str] = set()
    pending = [canonicalize_name(n) for n in names]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            pending.extend(canonicalize_name(r.name) for r in _requirements(name))
        except metadata.PackageNotFoundError:
            continue
    return seen


def extra_only_modules() -> list[str]:
    """Top-level import names that only the extras install (psutil, pytest, cdktf, ...)."""
    extras = metadata.metadata("clusterdash").get_all("Provides-Extra") or []
    base = _closure({r.name for r in _requirements("clusterdash")})
    optional: set[str] = set()
    for extra in extras:
        optional |= {r.name for r in _requirements("clusterdash", extra)}
    extra_only = _closure(optional) - base
    blocked = []
    for module, distributions in metadata.packages_distributions().items():
        if {canonicalize_name(d) for d in distributions} <= extra_only:
            blocked.append(module)
    return sorted(blocked)


BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class _NotInstalled(importlib.abc.MetaPathFinder):
        def __init__(self, names):
            self.names = set(names)

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.names:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NotInstalled(BLOCKED))
    """
)


def run_base_install(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `code` in a Python that behaves like a base install: no extra's package imports."""
    script = f"BLOCKED = {json.dumps(extra_only_modules())}\n{BLOCKER}\n{code}"
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def test_the_blocker_knows_the_test_only_packages() -> None:
    blocked = extra_only_modules()
    for module in ("psutil", "pytest", "hypothesis", "yaml", "cdktf", "pynvml", "textual_serve"):
        assert module in blocked
    for module in ("textual", "httpx", "aiosqlite", "openai", "loguru", "rich"):
        assert module not in blocked


def test_every_core_module_imports_without_any_extra(tmp_path: Path) -> None:
    optional = sorted(m for modules in OPTIONAL_MODULES.values() for m in modules)
    code = textwrap.dedent(
        f"""
        import importlib, pkgutil, tui
        optional = set({optional!r})
        names = [m.name for m in pkgutil.walk_packages(tui.__path__, "tui.")]
        failed = []
        for name in names:
            if name in optional:
                continue
            try:
                importlib.import_module(name)
            except ImportError as error:
                failed.append(f"{{name}}: {{error}}")
        print("\\n".join(failed) or f"OK {{len(names)}}")
        """
    )
    result = run_base_install(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK"), result.stdout


def test_demo_snapshot_runs_without_any_extra(tmp_path: Path) -> None:
    code = "import sys; from tui.cli import main; sys.exit(main(['snapshot', '--demo', '--json']))"
    result = run_base_install(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["demo"] is True


def test_serve_without_its_extra_names_the_extra_in_one_line(tmp_path: Path) -> None:
    code = "import sys; from tui.cli import main; sys.exit(main(['serve', '--demo']))"
    result = run_base_install(code, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pip install 'clusterdash[web]'" in result.stderr


def test_version_is_the_project_version(capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"clusterdash {project['version']}"


def test_pod_exporter_without_its_extra_names_the_extra(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import runpy, sys
        sys.path.insert(0, {str(REPO / "containers")!r})
        sys.argv = ["gpu_exporter", "--port", "0", "--listen", "127.0.0.1"]
        runpy.run_module("gpu_exporter", run_name="__main__")
        """
    )
    result = run_base_install(code, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "gpu_exporter: needs nvidia-ml-py: pip install 'clusterdash[exporter]'"
    )


def test_provisioning_without_its_extra_names_the_extra(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO / "cdktf")!r})
        from clusterdash_infra.commands import main
        sys.exit(main(["synth", "--outdir", {str(tmp_path / "out")!r}]))
        """
    )
    result = run_base_install(code, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "synth: needs the cdktf library: pip install -e '.[infra]' (make synth does)"
    )
    assert not (tmp_path / "out").exists()
