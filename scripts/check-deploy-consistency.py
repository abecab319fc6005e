#!/usr/bin/env python3
"""Cross-file checks of the deployment files (run by scripts/validate-deploy.sh).

Each file validating on its own is not enough: several settings must agree across files,
and a few rules hold everywhere. Checked:

  * the request body limit: NIMBUS__SERVER__BODY_LIMIT_BYTES (compose, each overlay's
    ConfigMap) = nginx's client_max_body_size = the Ingresses' proxy-body-size;
  * graceful shutdown: compose stop_grace_period and the pods' terminationGracePeriodSeconds
    leave room for the preStop pause plus NIMBUS__SERVER__SHUTDOWN_TIMEOUT_S;
  * Kafka partitions (--partitions of create-topics) ≥ the ingest HPA's maxReplicas;
  * shards: as many shard URLs as databases the PostgreSQL init script creates;
  * deploy/prometheus/alerts.yml = the PrometheusRule's spec.groups; the dev overlay's copy
    deploy/postgres/init-shards.sh is a link to the dev overlay's script;
  * compose: only nginx publishes ports; api and ingest wait for `migrate` and do not
    migrate themselves;
  * Kubernetes pods meet Pod Security `restricted` (non-root, seccomp, no privilege
    escalation, all capabilities dropped), and NimbusFleet's containers have a read-only
    root filesystem;
  * the Dockerfile (parsed by BuildKit's parser through the `dockerfile` package): stages,
    cache mounts, `cargo build --release --locked --bin nimbusfleet`, a non-root USER,
    ENTRYPOINT/CMD/HEALTHCHECK, the dashboard where NIMBUS__SERVER__DASHBOARD_DIR points;
  * .dockerignore keeps every workspace crate, Cargo.toml/lock, frontend/ and openapi/, and
    leaves out target/ and .env.

With --promql FILE it also writes every PromQL expression of the Grafana dashboards and of
the Prometheus Adapter rules (placeholders filled in) as a rule file for `promtool check rules`.

Usage: check-deploy-consistency.py --compose RENDERED --overlay NAME=RENDERED ... \
           --monitoring RENDERED [--promql FILE]
Needs PyYAML; the Dockerfile check also needs the `dockerfile` package (skipped, with a
note, when it is missing). Exits 1 on any problem.
"""

import argparse
import base64
import fnmatch
import json
import os
import re
import shlex
import sys

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
problems = []
notes = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def read(relative):
    with open(os.path.join(ROOT, relative), encoding="utf-8") as f:
        return f.read()


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def size_bytes(text):
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)\s*", str(text))
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]


def seconds(text):
    total, rest = 0.0, str(text).strip()
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", rest):
        total += float(amount) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}[unit]
    return total if rest else None


def env_list(env):
    """compose environment, as a mapping (v1 and v2 print a mapping or a list)."""
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in (env or {}).items()}


def flag_value(args, flag):
    args = [str(a) for a in args or []]
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


# --- compose ---------------------------------------------------------------------------

def check_compose(path, body_limits, partitions):
    compose = yaml.safe_load(open(path, encoding="utf-8"))
    services = compose.get("services") or {}
    for name, service in services.items():
        if service.get("ports") and name != "nginx":
            problem("docker-compose.yml", f"service {name} publishes ports; only nginx should")
    for name in ("api", "ingest"):
        service = services.get(name) or {}
        env = env_list(service.get("environment"))
        if env.get("NIMBUS__STORAGE__MIGRATE_ON_START", "").lower() != "false":
            problem("docker-compose.yml", f"{name} must set NIMBUS__STORAGE__MIGRATE_ON_START=false")
        depends = service.get("depends_on") or {}
        if not isinstance(depends, dict) or (depends.get("migrate") or {}).get("condition") != "service_completed_successfully":
            problem("docker-compose.yml", f"{name} must wait for migrate (service_completed_successfully)")
        grace = seconds(service.get("stop_grace_period", "10s"))
        # SIGTERM: the drain delay (readiness 503, connections closed), then in-flight
        # requests get the shutdown timeout.
        timeout = float(env.get("NIMBUS__SERVER__SHUTDOWN_TIMEOUT_S", "30")) + float(env.get("NIMBUS__SERVER__DRAIN_DELAY_S", "2"))
        if grace is None or grace <= timeout:
            problem("docker-compose.yml", f"{name}: stop_grace_period {service.get('stop_grace_period')} must exceed the drain delay plus the shutdown timeout ({timeout:g} s)")
    api_env = env_list((services.get("api") or {}).get("environment"))
    body_limits.append(("docker-compose.yml api NIMBUS__SERVER__BODY_LIMIT_BYTES", size_bytes(api_env.get("NIMBUS__SERVER__BODY_LIMIT_BYTES", "1048576"))))
    topics = services.get("kafka-topics") or {}
    value = flag_value(topics.get("command"), "--partitions")
    if value is None:
        problem("docker-compose.yml", "kafka-topics must pass --partitions")
    else:
        partitions.append(("docker-compose.yml kafka-topics", int(value)))
    shard_urls = [u for u in api_env.get("NIMBUS__STORAGE__SHARD_URLS", "").split(",") if u.strip()]
    pg_env = env_list((services.get("postgres") or {}).get("environment"))
    created = int(pg_env.get("NIMBUS_SHARD_COUNT", "4"))
    if len(shard_urls) != created:
        problem("docker-compose.yml", f"{len(shard_urls)} shard URLs but init-shards.sh creates {created} shard databases")
    for index, url in enumerate(shard_urls):
        if not url.strip().endswith(f"/nimbus_shard_{index}"):
            problem("docker-compose.yml", f"shard URL {index} should name nimbus_shard_{index}")


# --- nginx -----------------------------------------------------------------------------

def check_nginx(body_limits):
    text = re.sub(r"#.*", "", read("deploy/nginx/nginx.conf"))
    sizes = re.findall(r"client_max_body_size\s+(\S+);", text)
    if not sizes:
        problem("deploy/nginx/nginx.conf", "no client_max_body_size")
    for size in sizes:
        body_limits.append(("deploy/nginx/nginx.conf client_max_body_size", size_bytes(size)))
    # Only requests with an Idempotency-Key (which the API deduplicates) may be resent after
    # they were sent: non_idempotent appears in location @idempotent alone, and only
    # requests carrying the header are sent there.
    idempotent = re.search(r"location\s+@idempotent\s*\{([^}]*)\}", text)
    elsewhere = re.sub(r"location\s+@idempotent\s*\{[^}]*\}", "", re.sub(r"#.*", "", text))
    if "non_idempotent" in elsewhere:
        problem("deploy/nginx/nginx.conf", "non_idempotent retries are allowed only in location @idempotent")
    if idempotent and not re.search(r"if\s*\(\$http_idempotency_key\)\s*\{\s*return\s+418;", text):
        problem("deploy/nginx/nginx.conf", "location @idempotent must be reached only by requests with an Idempotency-Key")
    live = re.search(r"location\s+/api/v1/live\s*\{([^}]*)\}", text)
    if not live or "proxy_buffering off" not in live.group(1):
        problem("deploy/nginx/nginx.conf", "location /api/v1/live must turn proxy_buffering off")


# --- Kubernetes ------------------------------------------------------------------------

def pod_specs(doc):
    spec = doc.get("spec") or {}
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [(spec.get("template") or {}).get("spec") or {}]
    if doc.get("kind") == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if doc.get("kind") == "Pod":
        return [spec]
    return []


def check_overlay(name, path, body_limits, partitions):
    docs = load_all(path)
    where = f"k8s/overlays/{name}"
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind"), []).append(doc)

    settings = {}
    for cm in by_kind.get("ConfigMap", []):
        if cm["metadata"]["name"].startswith("nimbusfleet-settings"):
            settings = cm.get("data") or {}
    if not settings:
        problem(where, "no nimbusfleet-settings ConfigMap")
    body_limits.append((f"{where} NIMBUS__SERVER__BODY_LIMIT_BYTES", size_bytes(settings.get("NIMBUS__SERVER__BODY_LIMIT_BYTES", "1048576"))))
    if settings.get("NIMBUS__STORAGE__MIGRATE_ON_START", "").lower() != "false":
        problem(where, "the settings must set NIMBUS__STORAGE__MIGRATE_ON_START=false (the Job migrates)")
    timeout = float(settings.get("NIMBUS__SERVER__SHUTDOWN_TIMEOUT_S", "30")) + float(settings.get("NIMBUS__SERVER__DRAIN_DELAY_S", "2"))

    for ingress in by_kind.get("Ingress", []):
        size = ((ingress.get("metadata") or {}).get("annotations") or {}).get("nginx.ingress.kubernetes.io/proxy-body-size")
        if size is not None:
            body_limits.append((f"{where} Ingress/{ingress['metadata']['name']} proxy-body-size", size_bytes(size)))

    for doc in by_kind.get("Deployment", []):
        spec = doc["spec"]["template"]["spec"]
        grace = spec.get("terminationGracePeriodSeconds", 30)
        pause = 0
        for container in spec.get("containers", []):
            pre = ((container.get("lifecycle") or {}).get("preStop") or {})
            if "sleep" in pre:
                pause = max(pause, int(pre["sleep"].get("seconds", 0)))
            elif "exec" in pre:
                command = pre["exec"].get("command") or []
                if command[:1] == ["sleep"] and len(command) > 1:
                    pause = max(pause, int(command[1]))
        if doc["metadata"]["name"].startswith("nimbusfleet-") and doc["metadata"]["name"] != "nimbusfleet-redis" and grace <= pause + timeout:
            problem(where, f"Deployment/{doc['metadata']['name']}: terminationGracePeriodSeconds {grace} must exceed preStop {pause} s + drain delay and shutdown timeout {timeout:g} s")
        if doc["metadata"]["name"] == "nimbusfleet-api" and pause == 0:
            problem(where, "Deployment/nimbusfleet-api needs a preStop pause")

    topics = [j for j in by_kind.get("Job", []) if j["metadata"]["name"] == "nimbusfleet-create-topics"]
    count = None
    for job in topics:
        args = job["spec"]["template"]["spec"]["containers"][0].get("args")
        value = flag_value(args, "--partitions")
        if value is None:
            problem(where, "the create-topics Job must pass --partitions")
        else:
            count = int(value)
            partitions.append((f"{where} Job/nimbusfleet-create-topics", count))
    if not topics:
        problem(where, "no nimbusfleet-create-topics Job")
    if not [j for j in by_kind.get("Job", []) if j["metadata"]["name"] == "nimbusfleet-migrate"]:
        problem(where, "no nimbusfleet-migrate Job")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        if hpa["spec"]["scaleTargetRef"]["name"] == "nimbusfleet-ingest" and count is not None and hpa["spec"]["maxReplicas"] > count:
            problem(where, f"HPA/{hpa['metadata']['name']}: maxReplicas {hpa['spec']['maxReplicas']} exceeds the {count} partitions (idle workers)")

    # Shard URLs (when the overlay generates the Secret) against the databases created.
    for secret in by_kind.get("Secret", []):
        data = secret.get("data") or {}
        if "NIMBUS__STORAGE__SHARD_URLS" in data:
            urls = base64.b64decode(data["NIMBUS__STORAGE__SHARD_URLS"]).decode().split(",")
            for sts in by_kind.get("StatefulSet", []):
                for container in sts["spec"]["template"]["spec"]["containers"]:
                    for env in container.get("env") or []:
                        if env.get("name") == "NIMBUS_SHARD_COUNT" and int(env["value"]) != len(urls):
                            problem(where, f"{len(urls)} shard URLs but {sts['metadata']['name']} creates {env['value']} shards")

    # Pod Security "restricted", and read-only root filesystems for NimbusFleet itself.
    for doc in docs:
        for spec in pod_specs(doc):
            label = f"{where} {doc['kind']}/{doc['metadata']['name']}"
            pod_sc = spec.get("securityContext") or {}
            if pod_sc.get("runAsNonRoot") is not True:
                problem(label, "securityContext.runAsNonRoot must be true")
            if (pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problem(label, "securityContext.seccompProfile.type must be RuntimeDefault")
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                sc = container.get("securityContext") or {}
                if sc.get("allowPrivilegeEscalation") is not False:
                    problem(label, f"container {container['name']}: allowPrivilegeEscalation must be false")
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    problem(label, f"container {container['name']}: capabilities must drop ALL")
                if str(container.get("image", "")).split("/")[-1].startswith("nimbusfleet") and sc.get("readOnlyRootFilesystem") is not True:
                    problem(label, f"container {container['name']}: readOnlyRootFilesystem must be true")


def check_rules(monitoring_path):
    compose_groups = yaml.safe_load(read("deploy/prometheus/alerts.yml")).get("groups")
    rules = [d for d in load_all(monitoring_path) if d.get("kind") == "PrometheusRule"]
    if not rules:
        problem("k8s/monitoring", "no PrometheusRule")
    for rule in rules:
        if rule["spec"].get("groups") != compose_groups:
            problem(f"PrometheusRule/{rule['metadata']['name']}", "spec.groups differ from deploy/prometheus/alerts.yml: keep them identical")


def check_copies():
    # One script serves both: kustomize reads no file outside the overlay (not even through
    # a link), so the file lives there and compose mounts it through a link.
    link = os.path.join(ROOT, "deploy/postgres/init-shards.sh")
    target = os.path.join(ROOT, "k8s/overlays/dev/datastores/init-shards.sh")
    if not os.path.islink(link) or os.path.realpath(link) != os.path.realpath(target):
        problem("deploy/postgres/init-shards.sh", "must be a link to k8s/overlays/dev/datastores/init-shards.sh")


# --- Dockerfile and .dockerignore ------------------------------------------------------

def check_dockerfile():
    try:
        import dockerfile  # BuildKit's parser (Go), as a Python extension
    except ImportError:
        notes.append("Dockerfile: the `dockerfile` package is missing, parse check skipped")
        return
    where = "Dockerfile"
    try:
        commands = dockerfile.parse_file(os.path.join(ROOT, "Dockerfile"))
    except dockerfile.GoParseError as e:
        problem(where, f"does not parse: {e}")
        return
    stages, current = {}, None
    for c in commands:
        if c.cmd == "FROM":
            current = c.value[2].lower() if len(c.value) >= 3 and c.value[1].upper() == "AS" else str(len(stages))
            stages[current] = []
        elif current is None and c.cmd != "ARG":
            problem(where, f"line {c.start_line}: {c.cmd} before the first FROM")
        elif current is not None:
            stages[current].append(c)
    for name in ("builder", "dashboard", "runtime"):
        if name not in stages:
            problem(where, f"no `{name}` stage")
    if list(stages)[-1:] != ["runtime"]:
        problem(where, "the last stage must be `runtime`")
    for name, body in stages.items():
        for c in body:
            for flag in c.flags:
                if flag.startswith("--from="):
                    source = flag.split("=", 1)[1].lower()
                    if source not in stages or list(stages).index(source) >= list(stages).index(name):
                        problem(where, f"line {c.start_line}: COPY {flag} names no earlier stage")
    builder = stages.get("builder", [])
    build = [c for c in builder if c.cmd == "RUN" and "cargo build" in c.value[0]]
    if not build:
        problem(where, "the builder stage runs no `cargo build`")
    for c in build:
        line = " ".join(c.value[0].split())
        for part in ("--release", "--locked", "--bin nimbusfleet"):
            if part not in line:
                problem(where, f"line {c.start_line}: cargo build lacks {part}")
        if " -p " in f" {line} ":
            problem(where, f"line {c.start_line}: build by --bin only (the binary moves between crates)")
        mounts = [f for f in c.flags if f.startswith("--mount=type=cache")]
        for target in ("/usr/local/cargo/registry", "target"):
            if not any(target in m for m in mounts):
                problem(where, f"line {c.start_line}: no cache mount for {target}")
    runtime = stages.get("runtime", [])

    def last(cmd):
        found = [c for c in runtime if c.cmd == cmd]
        return found[-1] if found else None

    user = last("USER")
    if not user or user.value[0].split(":")[0] in ("", "0", "root"):
        problem(where, "the runtime stage must switch to a non-root USER")
    entry, cmd = last("ENTRYPOINT"), last("CMD")
    if not entry or not entry.json or list(entry.value) != ["nimbusfleet"]:
        problem(where, 'ENTRYPOINT must be ["nimbusfleet"]')
    if not cmd or not cmd.json or list(cmd.value) != ["serve"]:
        problem(where, 'CMD must be ["serve"]')
    health = last("HEALTHCHECK")
    if not health or "/health/live" not in " ".join(health.value):
        problem(where, "the runtime stage needs a HEALTHCHECK on /health/live")
    env = {}
    for c in runtime:
        if c.cmd == "ENV":
            env.update(dict(zip(c.value[0::2], c.value[1::2])))
    dashboard = env.get("NIMBUS__SERVER__DASHBOARD_DIR")
    copies = [c for c in runtime if c.cmd == "COPY" and "--from=dashboard" in c.flags]
    if not dashboard or not any(c.value[-1].rstrip("/") == dashboard.rstrip("/") for c in copies):
        problem(where, "NIMBUS__SERVER__DASHBOARD_DIR must point where the dashboard is copied")
    labels = " ".join(v for c in runtime if c.cmd == "LABEL" for v in c.value)
    for label in ("org.opencontainers.image.title", "org.opencontainers.image.version", "org.opencontainers.image.revision"):
        if label not in labels:
            problem(where, f"no {label} label")


def dockerignore_excludes(patterns, path):
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for negate, pattern in patterns:
        hit = any(
            fnmatch.fnmatch(p, pattern) or (pattern.startswith("**/") and fnmatch.fnmatch(p.split("/")[-1], pattern[3:]))
            for p in prefixes
        )
        if hit:
            excluded = not negate
    return excluded


def check_dockerignore():
    patterns = []
    for line in read(".dockerignore").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            patterns.append((negate, line.lstrip("!").strip("/")))
    try:
        import tomllib
        members = tomllib.loads(read("Cargo.toml")).get("workspace", {}).get("members", [])
    except (ImportError, ValueError):
        members = re.findall(r'"([^"]+)"', (re.search(r"members\s*=\s*\[([^\]]*)\]", read("Cargo.toml")) or [None, ""])[1])
    needed = ["Cargo.toml", "Cargo.lock", "frontend/package.json", "frontend/src", "openapi/openapi.json"] + members
    for path in needed:
        if dockerignore_excludes(patterns, path):
            problem(".dockerignore", f"excludes {path}, which the image build needs")
    for path in ("target", ".env", "frontend/node_modules", "data"):
        if not dockerignore_excludes(patterns, path):
            problem(".dockerignore", f"should exclude {path}")


# --- PromQL for promtool ---------------------------------------------------------------

def write_promql(path):
    """Every dashboard and adapter expression as a recording rule, for promtool's parser."""
    rules = []
    for directory, _, names in os.walk(os.path.join(ROOT, "deploy/grafana/dashboards")):
        for name in sorted(names):
            if not name.endswith(".json"):
                continue
            dashboard = json.load(open(os.path.join(directory, name), encoding="utf-8"))
            stack = list(dashboard.get("panels") or [])
            while stack:
                panel = stack.pop(0)
                stack.extend(panel.get("panels") or [])
                for target in panel.get("targets") or []:
                    expr = target.get("expr")
                    if expr:
                        for variable, value in (("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h")):
                            expr = expr.replace(variable, value)
                        rules.append((f"grafana {name}: {panel.get('title')}", expr))
    values = yaml.safe_load(read("k8s/monitoring/prometheus-adapter-values.yaml"))
    for section in ("custom", "external"):
        for rule in (values.get("rules") or {}).get(section) or []:
            series = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule["seriesQuery"]).group(1)
            expr = (rule["metricsQuery"].replace("<<.Series>>", series)
                    .replace("<<.LabelMatchers>>", 'namespace="nimbusfleet"')
                    .replace("<<.GroupBy>>", "namespace, pod" if section == "custom" else "namespace"))
            rules.append((f"adapter {section}: {series}", expr))
    document = {"groups": [{"name": "promql-syntax", "rules": [
        {"record": f"check:expr_{i}", "expr": expr, "labels": {"source": source}} for i, (source, expr) in enumerate(rules)
    ]}]}
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(document, f, sort_keys=False, width=1000)
    return len(rules)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compose", required=True, help="`docker-compose config` output")
    parser.add_argument("--overlay", action="append", default=[], metavar="NAME=FILE", help="a rendered overlay")
    parser.add_argument("--monitoring", required=True, help="the rendered k8s/monitoring")
    parser.add_argument("--promql", help="write the dashboards' and adapter's PromQL here, as a rule file")
    args = parser.parse_args()

    body_limits, partitions = [], []
    check_compose(args.compose, body_limits, partitions)
    check_nginx(body_limits)
    for item in args.overlay:
        name, _, path = item.partition("=")
        check_overlay(name, path, body_limits, partitions)
    check_rules(args.monitoring)
    check_copies()
    check_dockerfile()
    check_dockerignore()

    if len({value for _, value in body_limits}) != 1:
        problem("body limit", "must be the same everywhere: " + "; ".join(f"{w} = {v}" for w, v in body_limits))
    if len({value for _, value in partitions}) != 1:
        problem("partitions", "differ: " + "; ".join(f"{w} = {v}" for w, v in partitions))

    written = write_promql(args.promql) if args.promql else None
    for line in notes:
        print(f"check-deploy-consistency: note: {line}")
    for line in problems:
        print(f"check-deploy-consistency: {line}")
    if problems:
        return 1
    summary = f"body limit {body_limits[0][1]} bytes in {len(body_limits)} places, {partitions[0][1]} partitions in {len(partitions)} places"
    if written is not None:
        summary += f", {written} PromQL expressions written to {args.promql}"
    print(f"check-deploy-consistency: ok ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
