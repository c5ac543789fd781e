#!/usr/bin/env python3
"""Checks what the runbook requires of the files in deploy/, after the real tools have parsed
them (scripts/test_deploy.sh runs those first: docker compose config, kubernetes-validate,
systemd-analyze verify). Each check prints ok/FAIL; exit 1 on any failure.

    check_deploy.py compose COMPOSE_CONFIG_JSON     # output of `docker compose config --format json`
    check_deploy.py k8s DEPLOY_K8S_DIR
    check_deploy.py systemd DEPLOY_SYSTEMD_DIR
    check_deploy.py extract-configmap FILE NAME KEY  # prints a ConfigMap's data[KEY]
    check_deploy.py bridge-env BRIDGE_BINARY COMPOSE_CONFIG_JSON DEPLOY_K8S_DIR DOCKERFILE
        # the render-bridge's environment in each file passes the binary's own --check-config
"""

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import yaml

DRAIN_TIMEOUT_S = 30  # the default of DRAIN_TIMEOUT_S (deploy/config.yaml)
failures = 0


def check(condition, what):
    global failures
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures += 1


def seconds(value):
    """Compose durations (45s, 1m30s) and systemd times (45, 45s, 1min) in seconds."""
    value = str(value).strip()
    if value.isdigit():
        return int(value)
    total = 0
    for number, unit in re.findall(r"(\d+)\s*(min|ms|s|m|h)", value):
        total += int(number) * {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}[unit]
    return total


def compose(path):
    config = json.load(open(path))
    services = config["services"]
    for name in ["inference", "render-bridge", "pixelstream-proxy", "prometheus", "grafana"]:
        check(name in services, f"compose: service {name}")
    check(
        {"vllm", "llamacpp"} <= set(services),
        "compose: optional LLM servers (profiles vllm, llamacpp) for LLM_BASE_URL",
    )
    check(
        services["vllm"].get("profiles") == ["vllm"]
        and services["llamacpp"].get("profiles") == ["llamacpp"],
        "compose: the LLM servers only start with their profile",
    )
    inference = services["inference"]
    mounts = {m["target"]: m for m in inference.get("volumes", [])}
    models = mounts.get("/workspace/models", {})
    check(models.get("read_only") is True, "compose: models mounted read-only at /workspace/models")
    check(
        "/workspace/logs" in mounts and not mounts["/workspace/logs"].get("read_only"),
        "compose: logs read-write at /workspace/logs",
    )
    check(
        inference.get("network_mode") == "host",
        "compose: inference on the host network (WebRTC UDP 9000-9200 reachable as the host's)",
    )
    env = inference.get("environment", {})
    check(
        env.get("WEBRTC_UDP_PORT_MIN") == "9000" and env.get("WEBRTC_UDP_PORT_MAX") == "9200",
        "compose: WebRTC UDP range 9000-9200",
    )
    grace = seconds(inference.get("stop_grace_period", "10s"))
    check(grace > DRAIN_TIMEOUT_S, f"compose: stop_grace_period {grace}s > DRAIN_TIMEOUT_S")
    check(inference.get("restart") == "always", "compose: inference restart always")
    gpus = inference.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    check(any("gpu" in d.get("capabilities", []) for d in gpus), "compose: inference reserves a GPU")
    bridge_ports = services["render-bridge"].get("ports", [])
    check(
        any(p.get("target") == 11112 and p.get("protocol") == "udp" for p in bridge_ports),
        "compose: render-bridge ingest 11112/udp published",
    )
    proxy_ports = services["pixelstream-proxy"].get("ports", [])
    check(any(p.get("target") == 8080 for p in proxy_ports), "compose: player page 8080 published")
    prom = {m["target"]: m for m in services["prometheus"].get("volumes", []) if "target" in m}
    check(
        "/etc/prometheus/alerts.yml" in prom and "/etc/prometheus/prometheus.yml" in prom,
        "compose: Prometheus gets prometheus.yml and alerts.yml",
    )
    graf = {m["target"] for m in services["grafana"].get("volumes", []) if "target" in m}
    check(
        "/etc/grafana/provisioning" in graf
        and any(t.endswith("goassist-dashboard.json") for t in graf),
        "compose: Grafana provisioned with the datasource and the dashboard",
    )
    for name in ["inference", "render-bridge", "pixelstream-proxy"]:
        service = services[name]
        check(
            service.get("read_only") is True
            and "no-new-privileges:true" in service.get("security_opt", []),
            f"compose: {name} read-only root, no-new-privileges",
        )


def k8s(directory):
    docs = []
    for path in sorted(pathlib.Path(directory).glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(open(path)) if d]
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    deployment = by.get(("Deployment", "goassist-inference"))
    check(deployment is not None, "k8s: Deployment goassist-inference")
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    check(container["readinessProbe"]["httpGet"]["path"] == "/readyz", "k8s: readiness /readyz")
    check(container["livenessProbe"]["httpGet"]["path"] == "/healthz", "k8s: liveness /healthz")
    pre_stop = " ".join(container["lifecycle"]["preStop"]["exec"]["command"])
    check("/admin/drain" in pre_stop, "k8s: preStop starts a drain")
    grace = spec["terminationGracePeriodSeconds"]
    check(grace > DRAIN_TIMEOUT_S, f"k8s: terminationGracePeriodSeconds {grace} > DRAIN_TIMEOUT_S")
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    check(
        mounts["models"]["mountPath"] == "/workspace/models"
        and mounts["models"].get("readOnly") is True
        and volumes["models"]["persistentVolumeClaim"].get("readOnly") is True,
        "k8s: models volume read-only at /workspace/models",
    )
    check(
        container["resources"]["limits"].get("nvidia.com/gpu") == 1, "k8s: one GPU per pod"
    )
    check(spec.get("hostNetwork") is True, "k8s: hostNetwork (WebRTC UDP per pod on its node)")
    anti = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    check(
        anti[0]["topologyKey"] == "kubernetes.io/hostname",
        "k8s: one inference pod per node (UDP ports never collide)",
    )
    service = by.get(("Service", "goassist-inference"))
    check(
        service["spec"].get("clusterIP") == "None"
        and service["spec"].get("publishNotReadyAddresses") is True,
        "k8s: headless Service that keeps draining pods resolvable for their sessions",
    )
    router = by.get(("Deployment", "goassist-router"))
    check(
        router is not None
        and router["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "goassist-router",
        "k8s: sticky router (HAProxy) with the goassist-router ConfigMap (deploy/k8s/haproxy.cfg)",
    )
    check(("Deployment", "vllm") in by and ("Service", "vllm") in by, "k8s: vLLM Deployment + Service")
    render = by.get(("Deployment", "goassist-render"))
    names = {c["name"] for c in render["spec"]["template"]["spec"]["containers"]}
    check({"render-bridge", "pixelstream-proxy"} <= names, "k8s: render pod with bridge and proxy")
    check(("ConfigMap", "goassist-prometheus") in by, "k8s: Prometheus scrape configuration")
    check(("PersistentVolumeClaim", "goassist-models") in by, "k8s: models PVC")
    env = by[("ConfigMap", "goassist-inference-env")]["data"]
    check(
        env.get("LLM_BASE_URL", "").startswith("http://vllm."),
        "k8s: inference uses the shared vLLM (LLM_BASE_URL)",
    )


def systemd(directory):
    for name in ["goassist-inference", "goassist-render-bridge", "goassist-pixelstream-proxy"]:
        path = pathlib.Path(directory) / f"{name}.service"
        check(path.exists(), f"systemd: {path.name}")
        settings = {}
        for line in open(path):
            line = line.strip()
            if "=" in line and not line.startswith(("#", ";")):
                key, value = line.split("=", 1)
                settings.setdefault(key, []).append(value)
        get = lambda key: settings.get(key, [""])[-1]  # noqa: E731
        check(get("Restart") == "always" and get("RestartSec") == "5", f"{name}: Restart=always, RestartSec=5")
        check(get("EnvironmentFile").startswith("/etc/goassist/"), f"{name}: EnvironmentFile")
        check(
            get("NoNewPrivileges") == "yes" and get("ProtectSystem") == "strict",
            f"{name}: NoNewPrivileges, ProtectSystem=strict",
        )
        check(get("User") == "goassist", f"{name}: runs as goassist")
        if name == "goassist-inference":
            stop = seconds(get("TimeoutStopSec"))
            check(stop > DRAIN_TIMEOUT_S, f"{name}: TimeoutStopSec {stop}s > DRAIN_TIMEOUT_S, a stop drains")
            check("/workspace/models" in get("ReadOnlyPaths"), f"{name}: models read-only")
            check("check-models" in get("ExecStartPre"), f"{name}: model check before start")


def dockerfile_env(path):
    """The ENV settings of a Dockerfile (KEY=VALUE forms, continuation lines joined)."""
    text = re.sub(r"\\\n", " ", open(path).read())
    env = {}
    for line in text.splitlines():
        if line.strip().startswith("ENV "):
            for word in shlex.split(line.strip()[4:]):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def bridge_check_config(binary, env):
    """Runs `goassist-render-bridge --check-config` with only `env`; (exit code, stderr)."""
    env = {k: v for k, v in env.items() if k.startswith(("BRIDGE_", "ANIMATION_"))}
    done = subprocess.run(
        [binary, "--check-config"], env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True, text=True, timeout=30,
    )
    return done.returncode, done.stderr.strip()


def bridge_env(binary, compose_json, k8s_dir, dockerfile):
    image = dockerfile_env(dockerfile)
    compose_env = json.load(open(compose_json))["services"]["render-bridge"].get("environment", {})
    render = next(
        d for d in yaml.safe_load_all(open(pathlib.Path(k8s_dir) / "render-pod.yaml"))
        if d and d["kind"] == "Deployment"
    )
    container = next(c for c in render["spec"]["template"]["spec"]["containers"] if c["name"] == "render-bridge")
    # A variable from a Secret (the bridge key) gets a stand-in of the right form: the cluster
    # supplies the real one.
    k8s_env = {
        e["name"]: e["value"] if "value" in e else "ab" * 32
        for e in container.get("env", [])
    }
    for what, env in [
        ("the image's ENV", image),
        ("compose (over the image's ENV)", {**image, **compose_env}),
        ("k8s render pod (over the image's ENV)", {**image, **k8s_env}),
    ]:
        code, err = bridge_check_config(binary, env)
        check(code == 0, f"bridge-env: {what} passes goassist-render-bridge --check-config {err}")
    # The check can fail: every interface without an allow-list is refused (exit 78).
    bare = {k: v for k, v in image.items() if k != "BRIDGE_ALLOWED_SENDERS"}
    code, err = bridge_check_config(binary, bare)
    check(
        code == 78 and "BRIDGE_ALLOWED_SENDERS" in err,
        "bridge-env: BRIDGE_INGEST_ADDR=0.0.0.0 without BRIDGE_ALLOWED_SENDERS is refused (78)",
    )


def extract_configmap(path, name, key):
    for doc in yaml.safe_load_all(open(path)):
        if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name:
            sys.stdout.write(doc["data"][key])
            return
    sys.exit(f"no ConfigMap {name} with {key} in {path}")


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {
        "compose": compose, "k8s": k8s, "systemd": systemd, "extract-configmap": extract_configmap,
        "bridge-env": bridge_env,
    }[command](*rest)
    if command != "extract-configmap":
        print(f"check_deploy {command}: {failures} failures")
    sys.exit(1 if failures else 0)
