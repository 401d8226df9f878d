"""The command line as a user runs it: real processes, real exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.snapshot_output import SCHEMA


def run_cli(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or dict(os.environ),
        check=False,
    )


def test_snapshot_json_of_the_demo_cluster_follows_the_schema() -> None:
    result = run_cli("snapshot", "--json", "--demo", "--nodes", "12", "--seed", "4")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["schema"] == SCHEMA
    assert data["demo"] is True
    assert len(data["nodes"]) == 12
    assert len(data["gpus"]) == 96
    assert set(data["sources"]) == {"gpu", "slurm"}
    assert all(source["ok"] for source in data["sources"].values())
    assert data["summary"]["gpus_total"] == 96
    drained = [n for n in data["nodes"] if n["state"] == "drained"]
    assert drained and drained[0]["reason"]
    held = [g for g in data["gpus"] if g["job_id"]]
    assert held, "GPUs held by running jobs name their job and user"
    job_ids = {j["id"] for j in data["jobs"]}
    assert all(g["job_id"] in job_ids and g["user"] for g in held)


def test_snapshot_table_is_human_readable() -> None:
    result = run_cli("snapshot", "--demo", "--nodes", "4")
    assert result.returncode == 0, result.stderr
    assert "cluster demo (demo)" in result.stdout
    assert "NODE" in result.stdout and "gpu-01" in result.stdout


def test_same_seed_same_snapshot_shape() -> None:
    first = json.loads(run_cli("snapshot", "--json", "--demo", "--seed", "9").stdout)
    second = json.loads(run_cli("snapshot", "--json", "--demo", "--seed", "9").stdout)
    assert [n["state"] for n in first["nodes"]] == [n["state"] for n in second["nodes"]]
    assert [j["user"] for j in first["jobs"]] == [j["user"] for j in second["jobs"]]


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[gpu]\ninterval = "often"\n')
    result = run_cli("snapshot", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "gpu.interval" in result.stderr and ":2:" in result.stderr


def test_bad_env_value_exit_2() -> None:
    env = dict(os.environ, CLUSTERDASH_DEMO_NODES="lots")
    result = run_cli("snapshot", "--demo", env=env)
    assert result.returncode == 2
    assert "CLUSTERDASH_DEMO_NODES" in result.stderr


def test_config_file_pointing_at_missing_slurm_reports_it(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[gpu]\ntargets = ["http://127.0.0.1:9/metrics"]\ntimeout = "1s"\n')
    env = dict(os.environ, PATH=str(tmp_path))
    result = run_cli("snapshot", "--json", "--config", str(config), env=env)
    assert result.returncode == 1, "every source failing is a failure"
    data = json.loads(result.stdout)
    assert "not found on PATH" in data["sources"]["slurm"]["last_error"]
    assert data["sources"]["gpu"]["ok"] is False
    assert "Traceback" not in result.stderr


def test_collect_writes_history_and_stops_on_sigterm(tmp_path: Path) -> None:
    store = tmp_path / "history-demo.sqlite3"  # the simulated cluster's own file
    env = dict(
        os.environ,
        CLUSTERDASH_STORE_PATH=str(tmp_path / "history.sqlite3"),
        CLUSTERDASH_GPU_INTERVAL="1s",
        CLUSTERDASH_SLURM_INTERVAL="1s",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "collect", "--demo", "--nodes", "4"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        rows = 0
        while time.monotonic() < deadline and rows < 64:
            time.sleep(0.5)
            if store.exists():
                try:
                    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
                        rows = db.execute("SELECT count(*) FROM gpu_samples").fetchone()[0]
                except sqlite3.OperationalError:
                    rows = 0
        assert rows >= 64, "two cycles of 4 nodes x 8 GPUs were stored"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert not (tmp_path / "history.sqlite3").exists(), "demo never touches the real file"
    assert "collector stopped" in stderr
    assert "Traceback" not in stderr


def test_unknown_rules_action_is_usage_error() -> None:
    result = run_cli("rules")
    assert result.returncode == 2
    assert "rules check FILE" in result.stderr


@pytest.mark.parametrize("args", [["--nodes", "0", "snapshot", "--demo"]])
def test_out_of_range_flag_names_it(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert "--nodes" in result.stderr and "demo.nodes" in result.stderr


def test_collect_evaluates_alerts_and_calls_the_webhook_without_the_tui(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(
        os.environ,
        CLUSTERDASH_STORE_PATH=str(tmp_path / "h.sqlite3"),
        CLUSTERDASH_ALERTS_WEBHOOK_URL=f"http://127.0.0.1:{server.server_address[1]}/hook",
        CLUSTERDASH_GPU_INTERVAL="1s",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "collect", "--demo", "--nodes", "16"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not received:
            time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
        server.shutdown()
        server.server_close()
    alerts = [a for body in received for a in body["alerts"]]  # type: ignore[attr-defined]
    assert {"rule": "node_drained", "target": "gpu-03"} in [
        {"rule": a["rule"], "target": a["target"]} for a in alerts
    ]
    assert process.returncode == 0
    with sqlite3.connect(tmp_path / "h-demo.sqlite3") as db:
        rules = {row[0] for row in db.execute("SELECT rule FROM alert_events")}
    assert "node_drained" in rules, "alert history is kept in the store"


def _gpu_only_config(tmp_path: Path) -> Path:
    """A real cluster without Slurm: one exporter that never answers (port 9 is discard)."""
    config = tmp_path / "gpu-only.toml"
    config.write_text(
        '[slurm]\nenabled = false\n[gpu]\ntargets = ["http://127.0.0.1:9/metrics"]\n'
        'timeout = "1s"\n'
    )
    return config


def test_no_slurm_at_all_says_simulated_in_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path))
    result = run_cli("snapshot", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["demo"] is True
    assert result.stderr.count("\n") == 1 and "simulated cluster" in result.stderr


def test_slurm_disabled_in_a_config_file_collects_gpus_only(tmp_path: Path) -> None:
    result = run_cli("snapshot", "--json", "--config", str(_gpu_only_config(tmp_path)))
    data = json.loads(result.stdout)
    assert data["demo"] is False
    assert set(data["sources"]) == {"gpu"}, "no Slurm source is built or run"


def test_corrupt_history_database_is_one_line_and_left_untouched(tmp_path: Path) -> None:
    store = tmp_path / "history.sqlite3"
    store.write_bytes(b"not a database, but somebody's file" * 100)
    before = store.read_bytes()
    env = dict(os.environ, CLUSTERDASH_STORE_PATH=str(store), CLUSTERDASH_CLUSTER_NAME="lab")
    result = run_cli("collect", "--config", str(_gpu_only_config(tmp_path)), env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "is corrupt" in result.stderr and "Traceback" not in result.stderr
    assert store.read_bytes() == before


def test_history_database_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    env = dict(os.environ, CLUSTERDASH_STORE_PATH=str(folder), CLUSTERDASH_CLUSTER_NAME="lab")
    result = run_cli("collect", "--config", str(_gpu_only_config(tmp_path)), env=env)
    assert result.returncode == 1
    assert (
        result.stderr == f"clusterdash: history database {folder}: unable to open database file\n"
    )


def test_ask_streams_an_answer_that_saw_the_recorded_alerts(tmp_path: Path) -> None:
    import asyncio

    from tests.agent_server import Call, ScriptedServer, text_reply, tool_reply
    from tui.alerts.engine import AlertEngine
    from tui.alerts.persistence import AlertRepository
    from tui.alerts.rules import Comparator, Rule, Watch
    from tui.model import ClusterSnapshot, Gpu
    from tui.store import Store

    store_path = tmp_path / "history-demo.sqlite3"  # where the simulated cluster's history lives

    async def record_an_alert() -> None:
        store = await Store.open(store_path)
        engine = AlertEngine([Rule("hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 90)])
        snapshot = ClusterSnapshot(taken_at=1.0, gpus=(Gpu("gpu-07", 3, temperature_c=95),))
        await AlertRepository(store).record(engine.evaluate(snapshot, now=1.0), engine.active)
        await store.close()

    asyncio.run(record_an_alert())
    script = [tool_reply(Call("alerts", {})), text_reply("GPU 3 on gpu-07 ", "is too hot.")]
    with ScriptedServer(script) as server:
        env = dict(
            os.environ,
            CLUSTERDASH_STORE_PATH=str(tmp_path / "history.sqlite3"),
            CLUSTERDASH_AGENT_BASE_URL=server.base_url,
        )
        result = run_cli("ask", "--demo", "--nodes", "4", "what is alerting?", env=env)
    assert result.returncode == 0, result.stderr
    assert "GPU 3 on gpu-07 is too hot." in result.stdout
    tool_messages = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert "gpu-07/gpu3" in tool_messages[0]["content"]


def test_from_terraform_connects_to_the_cluster_the_outputs_describe(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    config = {
        "cluster": {"name": "runpod-a100", "gpu_hourly_price": 2.5},
        "slurm": {"enabled": True},
        "gpu": {"source": "exporters", "targets": ["http://127.0.0.1:9/metrics"]},
        "agent": {"base_url": "", "log_url": ""},
    }
    outputs.write_text(json.dumps({"clusterdash_config": {"sensitive": False, "value": config}}))
    env = dict(os.environ, PATH=str(tmp_path), CLUSTERDASH_GPU_TIMEOUT="1s")
    result = run_cli("snapshot", "--json", "--from-terraform", str(outputs), env=env)
    data = json.loads(result.stdout)
    assert data["cluster"] == "runpod-a100"
    assert data["demo"] is False, "a described cluster is never the simulator"
    assert "connection refused" in data["sources"]["gpu"]["last_error"]
    missing = run_cli("snapshot", "--from-terraform", str(tmp_path / "nope"), env=env)
    assert missing.returncode == 2
    assert missing.stderr.startswith("clusterdash: --from-terraform:")


def test_snapshot_into_a_closed_pipe_stops_quietly() -> None:
    """`clusterdash snapshot --json | head -c 100`: no traceback, no Errno, exit 0 or 141."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "snapshot", "--json", "--demo", "--nodes", "512"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(100).startswith(b"{")
    process.stdout.close()  # what head does once it has its lines
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) in (0, 141)
    assert stderr == ""


def test_ask_without_a_model_is_one_line_on_stderr_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CLUSTERDASH_AGENT_BASE_URL"}
    env["XDG_CONFIG_HOME"] = str(tmp_path)  # no config file: no model
    result = run_cli("ask", "--demo", "--nodes", "4", "why is job 42 pending?", env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "agent.base_url" in result.stderr
