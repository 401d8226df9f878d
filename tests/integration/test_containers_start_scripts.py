"""The pod's start scripts run in a scratch root laid out like the image (no Docker needed):
every path, owner, mode and environment variable they set up, as the services see them."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need, need_binaries
from tests.integration.scratch_root import ScratchRoot
from tests.ports import free_port

pytestmark = pytest.mark.integration

MUNGE_KEY_B64 = base64.b64encode(secrets.token_bytes(1024)).decode()
HEAD_SERVICES = (
    "munged",
    "slurmctld",
    "prometheus-slurm-exporter",
    "python-gpu_exporter",
    "vllm",
    "python-vllm_logs.log_server",
    "clusterdash",
)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[ScratchRoot]:
    need(os.geteuid() == 0, "a chroot with bind mounts needs root")
    need_binaries("unshare", "chroot", "runuser")
    root = ScratchRoot(tmp_path / "root")
    root.build()
    try:
        yield root
    finally:
        root.stop()


def start_head(scratch: ScratchRoot, **extra: str) -> None:
    env = {
        "NODE_ROLE": "head",
        "MUNGE_KEY_B64": MUNGE_KEY_B64,
        "RUNPOD_POD_ID": "x7k2p9q4headpod",
        "SLURMCTLD_PORT": str(free_port()),
        "HF_HOME": "/workspace/huggingface",  # as the image's ENV sets it
    } | extra
    scratch.start("entrypoint.sh", env)
    scratch.wait_until(lambda: "supervising" in scratch.log(), 60, "the head to come up")
    scratch.wait_until(lambda: scratch.has_run(*HEAD_SERVICES), 30, "every head service")


def test_head_gives_vllm_a_model_cache_it_can_write(scratch: ScratchRoot) -> None:
    start_head(scratch)

    hf_home = scratch.path / "workspace" / "huggingface"
    service_uid = scratch.uid_of("clusterdash")
    assert hf_home.stat().st_uid == service_uid
    assert stat.S_IMODE(hf_home.stat().st_mode) == 0o755
    assert (scratch.path / "workspace").stat().st_uid == 0
    vllm = scratch.ran("vllm")
    assert vllm["uid"] == service_uid
    assert vllm["env"]["HF_HOME"] == "/workspace/huggingface"
    assert vllm["hf_home_writable"] is True
    assert "--max-num-seqs" in vllm["argv"]


def test_a_model_cache_left_by_root_on_the_volume_is_handed_over(scratch: ScratchRoot) -> None:
    cached = scratch.path / "workspace" / "huggingface" / "hub" / "models--nvidia"
    cached.mkdir(parents=True)
    (cached / "config.json").write_text("{}")

    start_head(scratch)

    service_uid = scratch.uid_of("clusterdash")
    assert cached.stat().st_uid == service_uid
    assert (cached / "config.json").stat().st_uid == service_uid


def test_head_names_its_address_in_slurm_conf(scratch: ScratchRoot) -> None:
    start_head(scratch)

    conf = (scratch.path / "etc" / "slurm" / "slurm.conf").read_text().splitlines()
    host = socket.gethostname().split(".")[0]
    assert f"SlurmctldHost={host}(x7k2p9q4headpod.runpod.internal)" in conf
    controller = scratch.ran("slurmctld")
    assert controller["uid"] == 0
    assert controller["argv"] == ["-D", "-f", "/etc/slurm/slurm.conf"]


def test_head_without_a_pod_id_names_its_first_address(scratch: ScratchRoot) -> None:
    start_head(scratch, RUNPOD_POD_ID="")

    conf = (scratch.path / "etc" / "slurm" / "slurm.conf").read_text()
    host = socket.gethostname().split(".")[0]
    address = os.popen("hostname -I").read().split()[0]
    assert f"SlurmctldHost={host}({address})\n" in conf


def test_head_services_run_as_the_service_user_with_the_head_config(
    scratch: ScratchRoot,
) -> None:
    start_head(scratch)

    service_uid = scratch.uid_of("clusterdash")
    exporter = scratch.ran("prometheus-slurm-exporter")
    assert exporter["argv"] == ["-listen-address=:9341"]  # no -gpus-acct: it needs sacct
    for name in HEAD_SERVICES[2:]:
        ran = scratch.ran(name)
        assert ran["uid"] == service_uid, name
        assert ran["env"]["SLURM_CONF"] == "/etc/slurm/slurm.conf", name
    assert (scratch.path / "etc" / "slurm" / "gres.conf").exists()
    key = scratch.path / "etc" / "munge" / "munge.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert key.stat().st_uid == scratch.uid_of("munge")
    assert "MUNGE_KEY_B64" not in scratch.ran("munged")["env"]
    assert scratch.ran("munged")["uid"] == scratch.uid_of("munge")
    spool = scratch.path / "var" / "spool" / "slurmctld"
    assert spool.stat().st_uid == scratch.uid_of("slurm")


def test_worker_leaves_slurm_conf_to_the_fetched_copy(scratch: ScratchRoot) -> None:
    with socket.create_server(("127.0.0.1", 0)) as head:
        port = head.getsockname()[1]
        scratch.start(
            "entrypoint.sh",
            {
                "NODE_ROLE": "worker",
                "MUNGE_KEY_B64": MUNGE_KEY_B64,
                "SLURM_HEAD_HOST": "127.0.0.1",
                "SLURMCTLD_PORT": str(port),
                "SLURM_NODE_NAME": "worker-0",
                # What an image that set SLURM_CONF globally would hand the worker.
                "SLURM_CONF": "/etc/slurm/slurm.conf",
            },
        )
        scratch.wait_until(lambda: "supervising" in scratch.log(), 60, "the worker to come up")
        scratch.wait_until(
            lambda: scratch.has_run("slurmd", "python-gpu_exporter"), 30, "worker services"
        )

    assert not (scratch.path / "etc" / "slurm" / "slurm.conf").exists()
    slurmd = scratch.ran("slurmd")
    exporter = scratch.ran("python-gpu_exporter")
    assert "SLURM_CONF" not in slurmd["env"]
    assert "SLURM_CONF" not in exporter["env"]
    assert slurmd["argv"][:4] == ["-D", "-Z", "-N", "worker-0"]
    assert f"127.0.0.1:{port}" in slurmd["argv"]
    assert "Feature=gpu Gres=gpu:2" in slurmd["argv"]
    assert exporter["uid"] == scratch.uid_of("clusterdash")
    for directory in ("var/spool/slurmd", "run/slurm"):
        assert (scratch.path / directory).is_dir(), directory
