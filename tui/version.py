"""The installed package's version, as `clusterdash --version` prints it."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "clusterdash"


def installed_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"
