#!/usr/bin/env python3
"""Prints every NimbusFleet metric the deployment files name, one per line, sorted, unique.

A test starts the binary and asserts that each of these names appears in its /metrics
output, so that an autoscaler, an alert or a dashboard panel cannot point at a metric the
binary no longer exports.

Scanned: the YAML and JSON files under k8s/ (HPAs, Prometheus Adapter rules, PrometheusRule,
monitors), deploy/prometheus/ (alert rules and their tests) and deploy/grafana/ (dashboards),
comments included. Names are `nimbusfleet_[a-z0-9_]+`, with these adjustments:

  * a histogram's series suffixes `_bucket`, `_sum` and `_count` are stripped
    (nimbusfleet_http_request_duration_seconds_bucket → nimbusfleet_http_request_duration_seconds);
  * names the Prometheus Adapter derives (a rule's `name.as` that differs from the series it
    matches, e.g. nimbusfleet_http_requests_per_second from nimbusfleet_http_requests_total)
    are left out: the binary exports their source, not them.

Usage: deploy-metrics.py [--verbose] [--root DIR]
  --verbose  under each name, the files and lines that name it; then the derived names left out
Standard library only.
"""

import argparse
import os
import re
import sys

SCANNED = [("k8s", (".yaml", ".yml", ".json")),
           ("deploy/prometheus", (".yaml", ".yml", ".json")),
           ("deploy/grafana", (".yaml", ".yml", ".json"))]
NAME = re.compile(r"(?<![A-Za-z0-9_:])nimbusfleet_[a-z0-9_]+")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# A Prometheus Adapter rule's naming: `matches: "^series$"` followed by `as: "new_name"`.
ADAPTER_MATCHES = re.compile(r'^\s*matches:\s*["\']?\^?(nimbusfleet_[a-z0-9_]+)\$?["\']?\s*$')
ADAPTER_AS = re.compile(r'^\s*as:\s*["\']?(nimbusfleet_[a-z0-9_]+)["\']?\s*$')


def files_under(root):
    for folder, extensions in SCANNED:
        base = os.path.join(root, folder)
        for directory, subdirs, names in os.walk(base):
            subdirs.sort()
            for name in sorted(names):
                if name.endswith(extensions):
                    yield os.path.join(directory, name)


def base_name(name):
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def scan(root):
    """(references: name → [(file, line)], derived: name → [(file, line)])"""
    references, derived = {}, {}
    for path in files_under(root):
        relative = os.path.relpath(path, root)
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        # The `matches` and `as` of the adapter rule being read (a rule starts at its
        # seriesQuery); in either order.
        matched = renamed = None
        for number, line in enumerate(lines, start=1):
            if "seriesQuery" in line:
                matched = renamed = None
            m = ADAPTER_MATCHES.match(line)
            if m:
                matched = m.group(1)
            m = ADAPTER_AS.match(line)
            if m:
                renamed = (m.group(1), number)
            if matched and renamed:
                if renamed[0] != matched:
                    derived.setdefault(renamed[0], []).append((relative, renamed[1]))
                matched = renamed = None
            for name in NAME.findall(line):
                references.setdefault(base_name(name), []).append((relative, number))
    for name in derived:
        references.pop(name, None)
    return references, derived


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", "-v", action="store_true", help="show which files name each metric")
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                        help="repository root (default: the parent of this script's folder)")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    references, derived = scan(root)
    if not references:
        print(f"deploy-metrics: no nimbusfleet_ metric found under {root}", file=sys.stderr)
        return 1
    for name in sorted(references):
        print(name)
        if args.verbose:
            for path in sorted({p for p, _ in references[name]}):
                lines = ",".join(str(n) for p, n in references[name] if p == path)
                print(f"    {path}:{lines}")
    if args.verbose and derived:
        print()
        print("left out, derived by the Prometheus Adapter (the binary exports their source):")
        for name in sorted(derived):
            places = ", ".join(f"{p}:{n}" for p, n in derived[name])
            print(f"    {name}  ({places})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
