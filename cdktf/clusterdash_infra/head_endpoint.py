"""After `apply`: wait until the head pod has a public address and answers on its SSH port.

The provider returns as soon as RunPod accepted the pod, while it still initializes: its
`public_ip` is empty then, and RunPod maps the pod's 22/tcp to a random public port that the
provider does not expose. RunPod's REST API reports both (`publicIp`, `portMappings`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

RUNPOD_API = "https://rest.runpod.io/v1"
SSH_PORT = 22


class HeadNotReady(RuntimeError):
    """The head did not become reachable in time; the message is one line."""


@dataclass(frozen=True)
class HeadEndpoint:
    public_ip: str
    ssh_port: int

    def dashboard_command(self) -> str:
        return f"ssh -t -p {self.ssh_port} root@{self.public_ip} clusterdash"

    def ssh_command(self) -> str:
        return f"ssh -p {self.ssh_port} root@{self.public_ip}"


def endpoint_from_pod(pod: dict[str, object]) -> HeadEndpoint | None:
    """The public IP and SSH port from RunPod's pod object, or None while it has neither."""
    public_ip = pod.get("publicIp")
    mappings = pod.get("portMappings")
    if not isinstance(public_ip, str) or not public_ip or not isinstance(mappings, dict):
        return None
    port = mappings.get(str(SSH_PORT))
    if not isinstance(port, int) or not 0 < port < 65536:
        return None
    return HeadEndpoint(public_ip, port)


def accepts_connections(endpoint: HeadEndpoint, timeout: float) -> bool:
    try:
        with socket.create_connection((endpoint.public_ip, endpoint.ssh_port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_head(
    pod_id: str,
    api_key: str,
    *,
    api_url: str = RUNPOD_API,
    timeout: float = 900.0,
    interval: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> HeadEndpoint:
    """Poll RunPod until the pod has an address and its SSH port accepts connections."""
    deadline = clock() + timeout
    last = "no answer from RunPod yet"
    with httpx.Client(
        base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10.0
    ) as client:
        while True:
            try:
                response = client.get(f"/pods/{pod_id}")
                if response.status_code == 200:
                    endpoint = endpoint_from_pod(response.json())
                    if endpoint is None:
                        last = "the pod has no public IP and SSH port yet"
                    elif accepts_connections(endpoint, timeout=5.0):
                        return endpoint
                    else:
                        last = f"{endpoint.public_ip}:{endpoint.ssh_port} refuses connections"
                else:
                    last = f"RunPod answered HTTP {response.status_code}"
            except (httpx.HTTPError, ValueError) as exc:
                last = f"RunPod API: {exc}"
            if clock() >= deadline:
                raise HeadNotReady(f"head pod {pod_id} not reachable after {timeout:.0f}s: {last}")
            sleep(interval)
