"""`python -m gpu_exporter`: serve this host's GPUs on :9400 until stopped."""

from __future__ import annotations

import argparse
import socket
import sys

from loguru import logger

from .exporter import GpuExporter
from .nvml_reader import NvmlReader, NvmlUnavailable
from .server import ExporterServer
from .slurm_jobs import SlurmJobMap
from .xid import XidWatcher


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpu_exporter", description=__doc__)
    parser.add_argument("--listen", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=9400, help="port (default 9400)")
    parser.add_argument("--hostname", default=socket.gethostname(), help="Hostname label")
    parser.add_argument(
        "--slurm-node", default=None, help="Slurm node name of this host (default: --hostname)"
    )
    parser.add_argument(
        "--no-slurm", action="store_true", help="do not label GPUs with the job holding them"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import pynvml  # the real NVML only here; everything else takes it as a dependency
    except ImportError:
        print(
            "gpu_exporter: needs nvidia-ml-py: pip install 'clusterdash[exporter]'",
            file=sys.stderr,
        )
        return 2

    reader = NvmlReader(pynvml)
    try:
        reader.start()
    except NvmlUnavailable as error:
        print(f"gpu_exporter: {error}", file=sys.stderr)
        return 1
    xid = XidWatcher(reader)
    xid.start()
    jobs = SlurmJobMap(args.slurm_node or args.hostname)
    exporter = GpuExporter(
        reader,
        args.hostname,
        last_xid=xid.last_xid,
        jobs_by_gpu=dict if args.no_slurm else jobs.jobs_by_gpu,
    )
    try:
        server = ExporterServer((args.listen, args.port), exporter)
    except OSError as error:
        print(f"gpu_exporter: cannot listen on {args.listen}:{args.port}: {error}", file=sys.stderr)
        return 1
    logger.info("serving GPU metrics on {}:{}", args.listen, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        xid.stop()
        reader.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
