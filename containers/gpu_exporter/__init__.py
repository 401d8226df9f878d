"""dcgm-exporter-compatible GPU metrics from NVML, served over HTTP (port 9400)."""
