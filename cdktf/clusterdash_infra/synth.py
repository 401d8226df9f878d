"""Synthesize both stacks into OUTDIR: `python -m clusterdash_infra.synth OUTDIR`.

Run as its own process by commands.py, with the environment that keeps jsii quiet.
"""

from __future__ import annotations

import sys

from clusterdash_infra.settings import InfraConfigError


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m clusterdash_infra.synth OUTDIR", file=sys.stderr)
        return 2
    try:
        from clusterdash_infra.stacks import build_app

        build_app(argv[0]).synth()
    except InfraConfigError as exc:
        print(f"synth: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
