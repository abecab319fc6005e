#!/usr/bin/env python3
"""Offline checks of what kubernetes-validate has no schema for (scripts/validate-deploy.sh).

Usage:
    check-crds.py MONITORING.yaml [--targets RENDERED.yaml ...] [--adapter-values FILE]

MONITORING.yaml is the rendered k8s/monitoring kustomization. Checked:

  * ServiceMonitor, PodMonitor and PrometheusRule (prometheus-operator CRDs): apiVersion
    monitoring.coreos.com/v1 and the fields the operator needs (spec.selector,
    spec.endpoints[].port / spec.podMetricsEndpoints[].port, spec.groups[].rules[] with
    alert or record and expr, plus severity and summary on alerts);
  * with --targets (rendered overlays): each monitor's selector matches a Service (or a
    Deployment's pods) there, and the port it names exists on it;
  * with --adapter-values (the Prometheus Adapter's Helm values): the rules' shape, and that
    every Pods metric of a HorizontalPodAutoscaler in the targets is a custom rule's output
    and every External metric an external rule's.

Prints one line per problem and exits 1 when there is any; needs PyYAML.
"""

import argparse
import re
import sys

import yaml

MONITORING_API = "monitoring.coreos.com/v1"
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")

problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name', '?')}"


def check_selector(where, selector):
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        problem(where, "spec.selector needs matchLabels or matchExpressions")
        return {}
    return selector.get("matchLabels") or {}


def check_endpoint(where, endpoint):
    if not isinstance(endpoint, dict):
        problem(where, "an endpoint must be a mapping")
        return None
    port = endpoint.get("port")
    if not isinstance(port, str) or not port:
        problem(where, "every endpoint needs `port` (a port name)")
    path = endpoint.get("path", "/metrics")
    if not str(path).startswith("/"):
        problem(where, f"endpoint path {path!r} must start with /")
    for key in ("interval", "scrapeTimeout"):
        if key in endpoint and not DURATION.match(str(endpoint[key])):
            problem(where, f"endpoint {key} {endpoint[key]!r} is not a duration")
    return port


def check_monitor(doc, list_key):
    where = name_of(doc)
    spec = doc.get("spec") or {}
    labels = check_selector(where, spec.get("selector"))
    endpoints = spec.get(list_key)
    if not isinstance(endpoints, list) or not endpoints:
        problem(where, f"spec.{list_key} must list at least one endpoint")
        return labels, []
    return labels, [check_endpoint(f"{where} {list_key}[{i}]", e) for i, e in enumerate(endpoints)]


def check_rule_group(where, group, seen_groups):
    name = group.get("name")
    if not isinstance(name, str) or not name:
        problem(where, "every group needs a name")
    elif name in seen_groups:
        problem(where, f"group {name!r} appears twice")
    seen_groups.add(name)
    rules = group.get("rules")
    if not isinstance(rules, list) or not rules:
        problem(f"{where} group {name}", "rules[] must not be empty")
        return
    for i, rule in enumerate(rules):
        at = f"{where} group {name} rule {i}"
        if not isinstance(rule, dict):
            problem(at, "a rule must be a mapping")
            continue
        if ("alert" in rule) == ("record" in rule):
            problem(at, "a rule needs exactly one of `alert` and `record`")
        if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
            problem(at, "`expr` must be a non-empty string")
        if "for" in rule and not DURATION.match(str(rule["for"])):
            problem(at, f"`for: {rule['for']}` is not a duration")
        if "alert" in rule:
            if not (rule.get("labels") or {}).get("severity"):
                problem(at, f"alert {rule['alert']} needs labels.severity")
            if not (rule.get("annotations") or {}).get("summary"):
                problem(at, f"alert {rule['alert']} needs annotations.summary")


def check_prometheus_rule(doc):
    where = name_of(doc)
    groups = (doc.get("spec") or {}).get("groups")
    if not isinstance(groups, list) or not groups:
        problem(where, "spec.groups must list at least one group")
        return
    seen = set()
    for group in groups:
        check_rule_group(where, group if isinstance(group, dict) else {}, seen)


def matches(selector_labels, labels):
    return bool(selector_labels) and all(labels.get(k) == v for k, v in selector_labels.items())


def check_targets(monitors, targets):
    services = [d for d in targets if d.get("kind") == "Service"]
    workloads = [d for d in targets if d.get("kind") in ("Deployment", "StatefulSet")]
    for doc, labels, ports in monitors:
        where = name_of(doc)
        if doc["kind"] == "ServiceMonitor":
            found = [s for s in services if matches(labels, (s.get("metadata") or {}).get("labels") or {})]
            if not found:
                problem(where, f"selects no Service of the rendered overlays ({labels})")
            for service in found:
                names = {p.get("name") for p in (service.get("spec") or {}).get("ports") or []}
                for port in ports:
                    if port and port not in names:
                        problem(where, f"port {port!r} is not a port of {name_of(service)} ({sorted(names)})")
        else:
            found = [
                w for w in workloads
                if matches(labels, (((w.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
            ]
            if not found:
                problem(where, f"selects no pod template of the rendered overlays ({labels})")
            for workload in found:
                containers = workload["spec"]["template"]["spec"].get("containers") or []
                names = {p.get("name") for c in containers for p in c.get("ports") or []}
                for port in ports:
                    if port and port not in names:
                        problem(where, f"port {port!r} is not a container port of {name_of(workload)} ({sorted(names)})")


def check_adapter(path, targets):
    where = path
    with open(path, encoding="utf-8") as f:
        values = yaml.safe_load(f) or {}
    rules = values.get("rules") or {}
    outputs = {"custom": set(), "external": set()}
    for section in ("custom", "external"):
        for i, rule in enumerate(rules.get(section) or []):
            at = f"{where} rules.{section}[{i}]"
            for key in ("seriesQuery", "metricsQuery"):
                if not isinstance(rule.get(key), str) or not rule[key].strip():
                    problem(at, f"`{key}` must be a non-empty string")
            query = rule.get("metricsQuery") or ""
            for placeholder in ("<<.Series>>", "<<.LabelMatchers>>"):
                if placeholder not in query:
                    problem(at, f"metricsQuery should use {placeholder}")
            overrides = (rule.get("resources") or {}).get("overrides") or {}
            if "namespace" not in overrides:
                problem(at, "resources.overrides must map `namespace` (the HPA's namespace)")
            if section == "custom" and "pod" not in overrides:
                problem(at, "a per-pod rule must map `pod` in resources.overrides")
            name = rule.get("name") or {}
            series = re.match(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule.get("seriesQuery") or "")
            output = name.get("as") or (series.group(1) if series else None)
            if name.get("matches") and series and not re.search(name["matches"], series.group(1)):
                problem(at, f"name.matches {name['matches']!r} does not match {series.group(1)}")
            if output:
                outputs[section].add(output)
    for doc in targets:
        if doc.get("kind") != "HorizontalPodAutoscaler":
            continue
        for metric in (doc.get("spec") or {}).get("metrics") or []:
            kind = metric.get("type")
            if kind == "Pods":
                wanted, section = metric["pods"]["metric"]["name"], "custom"
            elif kind == "External":
                wanted, section = metric["external"]["metric"]["name"], "external"
            else:
                continue
            if wanted not in outputs[section]:
                problem(name_of(doc), f"{kind} metric {wanted} is served by no rules.{section} entry of {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="rendered YAML holding the CRD objects")
    parser.add_argument("--targets", nargs="*", default=[], help="rendered overlays the monitors and HPAs belong to")
    parser.add_argument("--adapter-values", help="the Prometheus Adapter's Helm values")
    args = parser.parse_args()

    counts = {kind: 0 for kind in CRD_KINDS}
    monitors = []
    for path in args.files:
        for doc in load_all(path):
            kind = doc.get("kind")
            if kind not in CRD_KINDS:
                continue
            counts[kind] += 1
            if doc.get("apiVersion") != MONITORING_API:
                problem(name_of(doc), f"apiVersion must be {MONITORING_API}, not {doc.get('apiVersion')}")
            if not (doc.get("metadata") or {}).get("name"):
                problem(name_of(doc), "metadata.name is missing")
            if kind == "ServiceMonitor":
                monitors.append((doc, *check_monitor(doc, "endpoints")))
            elif kind == "PodMonitor":
                monitors.append((doc, *check_monitor(doc, "podMetricsEndpoints")))
            else:
                check_prometheus_rule(doc)
    for kind, count in sorted(counts.items()):
        if count == 0:
            problem(", ".join(args.files), f"no {kind} found")

    targets = [doc for path in args.targets for doc in load_all(path)]
    if targets:
        check_targets(monitors, targets)
    if args.adapter_values:
        check_adapter(args.adapter_values, targets)

    for line in problems:
        print(f"check-crds: {line}")
    if problems:
        return 1
    print(
        "check-crds: ok ("
        + ", ".join(f"{counts[k]} {k}" for k in sorted(counts))
        + (f"; monitors and HPAs checked against {len(args.targets)} overlay(s)" if targets else "")
        + (", adapter rules checked" if args.adapter_values else "")
        + ")"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
