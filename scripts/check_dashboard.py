#!/usr/bin/env python3
"""Runs every query of the Grafana dashboard against a real Prometheus and checks the answers.

    check_dashboard.py PROMETHEUS_URL DASHBOARD_JSON --exporter URL [--exporter URL ...]
                       [--finite 'PANEL TITLE' ...]

Every target's expression (Grafana's $__rate_interval replaced by 1m) must return at least one
series. Panels whose title is given with --finite must return at least one finite value (a
latency that was really measured, not NaN from an idle histogram). Panels marked "[GPU only]"
may hold zeros on a CPU host; their metric names must still be in an exporter's /metrics text
(--exporter), which is checked for every metric name any query uses. Prints one line per
target and exits 1 on any failure. Used by scripts/test_deploy_live.sh.
"""

import argparse
import json
import math
import re
import sys
import urllib.parse
import urllib.request

# PromQL words that look like metric names but are functions, keywords or label names.
NOT_METRICS = {
    "sum", "by", "rate", "increase", "histogram_quantile", "max", "min", "changes", "le",
    "job", "instance", "reason", "stage", "component", "action", "outcome", "kind", "output",
    "type", "threshold", "ignoring", "on", "scalar", "vector", "or", "and", "round",
}


def query(prometheus, expr):
    url = prometheus.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"query failed: {body}")
    return body["data"]["result"]


def metric_names(expr):
    names = set()
    for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.sub(r'"[^"]*"', "", expr)):
        if token.startswith(("goassist_", "process_")):
            names.add(re.sub(r"_(bucket|sum|count)$", "", token))
    return names


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("prometheus")
    parser.add_argument("dashboard")
    parser.add_argument("--exporter", action="append", default=[])
    parser.add_argument("--finite", action="append", default=[])
    args = parser.parse_args()

    exported = ""
    for url in args.exporter:
        with urllib.request.urlopen(url, timeout=10) as response:
            exported += response.read().decode()
    exported_names = set(re.findall(r"^# TYPE (\S+)", exported, re.M))

    dashboard = json.load(open(args.dashboard))
    panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
    failures = 0
    titles = {p["title"] for p in panels}
    for wanted in args.finite:
        if wanted not in titles:
            print(f"FAIL --finite names no panel: {wanted!r}")
            failures += 1
    for panel in panels:
        gpu_only = "[GPU only]" in panel.get("description", "")
        if panel.get("datasource", {}).get("uid") != "prometheus":
            print(f"FAIL {panel['title']}: datasource is not the provisioned uid 'prometheus'")
            failures += 1
        finite_in_panel = 0
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "1m")
            missing = sorted(
                n for n in metric_names(expr) if n not in exported_names
            )
            if missing and gpu_only:
                # The GPU telemetry exports nothing on a host without an NVIDIA driver.
                print(f"SKIP {panel['title']} [{target['refId']}]: GPU only, and this host has no GPU: {missing} not exported")
                continue
            if missing:
                print(f"FAIL {panel['title']} [{target['refId']}]: not exported: {missing}")
                failures += 1
                continue
            try:
                result = query(args.prometheus, expr)
            except Exception as error:  # noqa: BLE001 - any failure is a test failure
                print(f"FAIL {panel['title']} [{target['refId']}]: {error}")
                failures += 1
                continue
            values = [float(r["value"][1]) for r in result]
            finite = [v for v in values if math.isfinite(v)]
            finite_in_panel += len(finite)
            if not result:
                print(f"FAIL {panel['title']} [{target['refId']}]: no data for {expr}")
                failures += 1
            else:
                shown = ", ".join(f"{v:.4g}" for v in values[:4])
                tag = " (GPU only: 0 on a CPU host)" if gpu_only else ""
                print(f"ok   {panel['title']} [{target['refId']}]: {len(result)} series: {shown}{tag}")
        if panel["title"] in args.finite and finite_in_panel == 0:
            print(f"FAIL {panel['title']}: no finite value (was it measured?)")
            failures += 1
    print(f"check_dashboard: {len(panels)} panels, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
