#!/usr/bin/env python3
"""Rewrites the README's generated reference tables from the code:

* the error table between `<!-- error-codes:start -->` and `<!-- error-codes:end -->`, from
  `nimbusfleet error-codes` (the binary is the first argument);
* the configuration table between `<!-- settings:start -->` and `<!-- settings:end -->`,
  from nimbusfleet/src/defaults.toml (each setting's comment is its meaning).

Tests fail when either drifts (nimbusfleet/tests/api/docs.rs); `make docs` runs this.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def settings_table():
    lines = open(os.path.join(ROOT, "nimbusfleet/src/defaults.toml"), encoding="utf-8").read().split("\n")
    section, comment, rows = None, [], []
    for line in lines:
        s = line.strip()
        m = re.match(r"^\[([a-z_.]+)\]$", s)
        if m:
            section, comment = m.group(1), []
            if section == "kafka.options":
                rows.append(("kafka.options", "`{}`", "Further librdkafka settings, applied to every client (a `[kafka.options]` table, e.g. `\"security.protocol\" = \"SSL\"`); values whose key names a password, secret, key or token are never printed."))
            continue
        if s.startswith("#"):
            body = s[1:].strip()
            commented = re.match(r"^([a-z_]+) = (.*)$", body)
            if commented and section:
                rows.append((f"{section}.{commented.group(1)}", "unset", " ".join(comment)))
                comment = []
            else:
                comment.append(body)
            continue
        m = re.match(r"^([a-z_]+) = (.*)$", s)
        if m and section:
            rows.append((f"{section}.{m.group(1)}", f"`{m.group(2).strip(chr(34))}`", " ".join(comment)))
            comment = []
        if not s:
            comment = []
    out = ["| setting | default | meaning |", "|---|---|---|"]
    out += [f"| `{k}` | {d} | {t.replace('|', chr(92) + '|')} |" for k, d, t in rows]
    return "\n".join(out) + "\n"


def replace(text, name, table):
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        sys.exit(f"README.md lacks the {name} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + table + end + tail


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "nimbusfleet"
    errors = subprocess.run([binary, "error-codes"], check=True, capture_output=True, text=True).stdout
    path = os.path.join(ROOT, "README.md")
    text = open(path, encoding="utf-8").read()
    text = replace(text, "error-codes", errors)
    text = replace(text, "settings", settings_table())
    open(path, "w", encoding="utf-8").write(text)


if __name__ == "__main__":
    main()
