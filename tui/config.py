"""Settings: TOML file, then CLUSTERDASH_<SECTION>_<KEY> environment, then flags.

Every key has a typed default here; a bad file or value raises ConfigError with one
line naming the key (and the file line when it came from the file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from tui.durations import parse_duration

APP_NAME = "clusterdash"
ENV_PREFIX = "CLUSTERDASH_"


class ConfigError(ValueError):
    """Bad configuration; the message is one line naming the key."""


# platformdirs reads the XDG variables on every call, so a changed environment takes effect.
def config_dir() -> Path:
    return platformdirs.user_config_path(APP_NAME)


def state_dir() -> Path:
    return platformdirs.user_state_path(APP_NAME)


def data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME)


def default_config_path() -> Path:
    return config_dir() / "config.toml"


Duration = typing.NewType("Duration", float)


@dataclass(frozen=True)
class ClusterSettings:
    name: str = ""
    # What one GPU costs per hour (USD), for cost figures; RunPod A100 SXM on-demand ~ 1.89.
    gpu_hourly_price: float = 1.89


@dataclass(frozen=True)
class GpuSettings:
    # exporters: scrape each node's /metrics; prometheus: PromQL; sim: the simulated cluster.
    source: str = "exporters"
    url_template: str = "http://{node}:9400/metrics"
    # Explicit exporter URLs or node names; empty = every node Slurm reports.
    targets: tuple[str, ...] = ()
    interval: Duration = Duration(5.0)
    timeout: Duration = Duration(3.0)
    concurrency: int = 64


@dataclass(frozen=True)
class PrometheusSettings:
    url: str = ""
    # Label naming the node: auto (Hostname, hostname, then instance host), or a label name.
    node_label: str = "auto"
    timeout: Duration = Duration(5.0)


@dataclass(frozen=True)
class SlurmSettings:
    enabled: bool = True
    interval: Duration = Duration(10.0)
    timeout: Duration = Duration(10.0)
    # Directory holding sinfo/squeue/scontrol; empty = PATH.
    bin_dir: str = ""
    # slurm.conf to use; empty = SLURM_CONF or Slurm's default.
    conf: str = ""


@dataclass(frozen=True)
class StoreSettings:
    path: str = ""
    raw_retention: Duration = Duration(3600.0)
    rollup_retention: Duration = Duration(7 * 86400.0)


@dataclass(frozen=True)
class AlertSettings:
    rules_file: str = ""
    builtin_rules: bool = True
    keep_firing: Duration = Duration(60.0)
    bell: bool = False
    webhook_url: str = ""
    alertmanager_url: str = ""


@dataclass(frozen=True)
class AgentSettings:
    base_url: str = ""
    model: str = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"
    log_url: str = ""
    max_steps: int = 12
    timeout: Duration = Duration(60.0)


@dataclass(frozen=True)
class UiSettings:
    theme: str = "textual-dark"
    refresh: Duration = Duration(2.0)


@dataclass(frozen=True)
class DemoSettings:
    nodes: int = 16
    seed: int = 0


@dataclass(frozen=True)
class WebSettings:
    # File holding the token browsers must present (`clusterdash serve` off loopback).
    token_file: str = ""
    max_sessions: int = 4


@dataclass(frozen=True)
class CollectorSettings:
    # Unix socket `collect` serves viewers on; empty = $XDG_RUNTIME_DIR/clusterdash/collect.sock.
    socket: str = ""
    # Group that may read the socket (operators); empty = the collector's user only.
    group: str = ""
    # Also serve /api/v1 on 127.0.0.1:<port> (0 = off; the head node uses 8080).
    http_port: int = 0
    # Viewers attach to a running collector; false = always collect in-process.
    attach: bool = True


@dataclass(frozen=True)
class Settings:
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    gpu: GpuSettings = field(default_factory=GpuSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    slurm: SlurmSettings = field(default_factory=SlurmSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    web: WebSettings = field(default_factory=WebSettings)
    collector: CollectorSettings = field(default_factory=CollectorSettings)
    # Not keys: how the settings were obtained.
    source_file: str = ""
    readonly: bool = False

    @property
    def store_path(self) -> Path:
        return Path(self.store.path) if self.store.path else data_dir() / "history.sqlite3"

    @property
    def rules_path(self) -> Path:
        """alerts.rules_file, else rules.toml beside the config file (where the TUI saves)."""
        if self.alerts.rules_file:
            return Path(self.alerts.rules_file).expanduser()
        return config_dir() / "rules.toml"

    @property
    def log_path(self) -> Path:
        return state_dir() / "clusterdash.log"


def _section_types() -> dict[str, dict[str, Any]]:
    hints = typing.get_type_hints(Settings)
    return {
        name: typing.get_type_hints(hints[name])
        for name in (f.name for f in dataclasses.fields(Settings))
        if dataclasses.is_dataclass(hints[name])
    }


def _convert(value: Any, kind: Any, from_env: bool) -> Any:
    if kind is Duration:
        return Duration(parse_duration(value))
    if kind is bool:
        if isinstance(value, bool):
            return value
        if from_env and isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if from_env and isinstance(value, str) and value.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("expected true or false")
    if kind is int:
        if isinstance(value, bool):
            raise ValueError("expected an integer")
        if isinstance(value, int):
            return value
        if from_env and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise ValueError("expected an integer")
    if kind is float:
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif from_env and isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is None:
            raise ValueError("expected a number")
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if kind is str:
        if isinstance(value, str):
            return value
        raise ValueError("expected a string")
    if typing.get_origin(kind) is tuple:
        if from_env and isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ValueError("expected a list of strings")
    raise ValueError(f"unsupported type {kind}")  # pragma: no cover


def _line_of(text: str, section: str, key: str) -> int | None:
    """1-based line of `key` inside `[section]` of a TOML text, for error messages."""
    current = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line.strip("[] ")
        elif current == section and re.match(rf"^{re.escape(key)}\s*=", line):
            return number
    return None


_VALIDATORS: Mapping[tuple[str, str], tuple[typing.Callable[[Any], bool], str]] = (
    types.MappingProxyType(
        {
            ("gpu", "source"): (
                lambda v: v in ("exporters", "prometheus", "sim"),
                "must be exporters, prometheus or sim",
            ),
            ("gpu", "interval"): (lambda v: v >= 0.5, "must be at least 0.5s"),
            ("gpu", "timeout"): (lambda v: v > 0, "must be positive"),
            ("gpu", "concurrency"): (lambda v: 1 <= v <= 1024, "must be between 1 and 1024"),
            ("gpu", "url_template"): (lambda v: "{node}" in v, "must contain {node}"),
            ("slurm", "interval"): (lambda v: v >= 1, "must be at least 1s"),
            ("slurm", "timeout"): (lambda v: v > 0, "must be positive"),
            ("cluster", "gpu_hourly_price"): (lambda v: v >= 0, "must not be negative"),
            ("agent", "max_steps"): (lambda v: 1 <= v <= 100, "must be between 1 and 100"),
            ("ui", "refresh"): (lambda v: v >= 0.5, "must be at least 0.5s"),
            ("demo", "nodes"): (lambda v: 1 <= v <= 4096, "must be between 1 and 4096"),
            ("collector", "http_port"): (lambda v: 0 <= v <= 65535, "must be a TCP port or 0"),
            ("web", "max_sessions"): (lambda v: 1 <= v <= 256, "must be between 1 and 256"),
            ("store", "raw_retention"): (lambda v: v >= 60, "must be at least 1m"),
            ("store", "rollup_retention"): (lambda v: v >= 3600, "must be at least 1h"),
        }
    )
)


def load_settings(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    readonly: bool = False,
) -> Settings:
    """Build Settings from the file (explicit path, else the XDG one if present), env, flags."""
    environ = os.environ if environ is None else environ
    explicit = path is not None
    path = path or default_config_path()
    text = ""
    raw: dict[str, Any] = {}
    if explicit or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {path}: cannot read: {error}") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {path}: {error}") from None
    types_by_section = _section_types()
    values: dict[str, dict[str, Any]] = {name: {} for name in types_by_section}

    def apply(section: str, key: str, value: Any, origin: str, from_env: bool) -> None:
        kinds = types_by_section[section]
        if key not in kinds:
            raise ConfigError(f"{origin}: unknown key {section}.{key}")
        try:
            converted = _convert(value, kinds[key], from_env)
        except ValueError as error:
            raise ConfigError(f"{origin}: {section}.{key}: {error}") from None
        check = _VALIDATORS.get((section, key))
        if check and not check[0](converted):
            raise ConfigError(f"{origin}: {section}.{key} {check[1]} (got {value!r})")
        values[section][key] = converted

    for section, table in raw.items():
        if section not in types_by_section:
            raise ConfigError(f"{path}: unknown section [{section}]")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a [section] table")
        for key, value in table.items():
            line = _line_of(text, section, key)
            origin = f"{path}:{line}" if line else str(path)
            apply(section, key, value, origin, from_env=False)

    for env_key, value in environ.items():
        if not env_key.startswith(ENV_PREFIX) or env_key in _NON_SETTING_ENV:
            continue
        rest = env_key[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section not in types_by_section:
            continue
        apply(section, key, value, f"environment {env_key}", from_env=True)

    for section, table in (overrides or {}).items():
        for key, value in table.items():
            if value is not None:
                apply(section, key, value, f"flag --{key.replace('_', '-')}", from_env=False)

    hints = typing.get_type_hints(Settings)
    sections = {name: hints[name](**values[name]) for name in types_by_section}
    return Settings(**sections, source_file=str(path) if text else "", readonly=readonly)


# Environment variables with the prefix that are not settings.
_NON_SETTING_ENV = frozenset(
    {"CLUSTERDASH_AGENT_API_KEY", "CLUSTERDASH_REQUIRE_INTEGRATION", "CLUSTERDASH_SERVE_TOKEN"}
)
