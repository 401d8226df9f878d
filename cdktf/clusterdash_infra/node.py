"""The Node.js process cdktf's Python library drives (jsii): presence, version, quiet start."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping

MIN_NODE_MAJOR = 20
NODE_HINT = (
    "install Node.js 20 or newer (https://nodejs.org, or `asdf install` with the repository's "
    ".tool-versions) and make sure `node` is on PATH"
)


class NodeError(RuntimeError):
    """Node.js is missing or too old; the message is one line saying how to get it."""


def node_major(node: str = "node", timeout: float = 10.0) -> int:
    """Major version of the Node.js on PATH, or NodeError explaining how to get one."""
    path = shutil.which(node)
    if path is None:
        raise NodeError(f"cdktf needs Node.js >= {MIN_NODE_MAJOR}, none found: {NODE_HINT}")
    try:
        result = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NodeError(f"cannot run {path} --version ({exc}): {NODE_HINT}") from exc
    match = re.match(r"v(\d+)\.", result.stdout.strip())
    if result.returncode != 0 or match is None:
        raise NodeError(f"{path} --version printed {result.stdout.strip()!r}: {NODE_HINT}")
    major = int(match.group(1))
    if major < MIN_NODE_MAJOR:
        raise NodeError(
            f"cdktf needs Node.js >= {MIN_NODE_MAJOR}, found {result.stdout.strip()}: {NODE_HINT}"
        )
    return major


def quiet_jsii_environment(environ: Mapping[str, str], major: int) -> dict[str, str]:
    """The environment for jsii with only Node 20's end-of-life notice silenced.

    jsii 1.142 reads JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION as a comma-separated list of
    major versions, and JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION (any value) for the
    "deprecated" notice Node 20 got before its end of support. Other majors keep their warnings.
    """
    env = dict(environ)
    if major == MIN_NODE_MAJOR:
        listed = [
            v.strip()
            for v in env.get("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "").split(",")
            if v.strip()
        ]
        if str(major) not in listed:
            listed.append(str(major))
        env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = ",".join(listed)
        env["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
    return env
