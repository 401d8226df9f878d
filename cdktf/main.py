"""CDKTF app for the clusterdash RunPod cluster: `python cdktf/main.py synth|plan|apply|destroy`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clusterdash_infra.commands import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
