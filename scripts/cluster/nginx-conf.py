#!/usr/bin/env python3
"""Writes the nginx configuration of `make cluster` from deploy/nginx/nginx.conf.

The local cluster must run the settings that are deployed, so this copies the compose
configuration and changes only what cannot work outside Docker, each change checked to
apply exactly once (a change of the deploy file's shape fails here instead of silently
giving the cluster other settings):

  * the `api` upstream lists the replicas' 127.0.0.1 ports instead of `api:8080 resolve`
    (same `max_fails`/`fail_timeout`), and Docker's resolver lines go;
  * there is no Grafana: its upstream and its locations go (nginx would refuse to start on
    the unresolvable host name);
  * it listens on 127.0.0.1:PORT instead of port 80;
  * logs, the pid file and the temporary files go to the cluster's state directory;
  * run as root, the workers run as `nobody` (`user`); run as anyone else the directive is
    left out, as nginx ignores it then;
  * `worker_rlimit_nofile` is capped at the hard limit of open files nginx starts with
    (`--max-nofile`), which a worker cannot exceed.

Everything else — least_conn, keep-alive, timeouts, body limit, passive health, retries
(keyed requests resent through location @idempotent),
the unbuffered live stream, request ids, the access log format — is the deploy file's.

Usage: nginx-conf.py --source deploy/nginx/nginx.conf --listen 127.0.0.1:8090 \
           --upstream 127.0.0.1:18081,127.0.0.1:18082 --state DIR [--user nobody] > nginx.conf
"""

import argparse
import re
import sys


def fail(message):
    sys.exit(f"nginx-conf.py: {message} (has deploy/nginx/nginx.conf changed shape?)")


def sub_once(pattern, replacement, text, what):
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count != 1:
        fail(f"expected exactly one {what}, found {count}")
    return new


def remove_block(text, header_pattern, what):
    """Removes each block whose header matches (with its leading comment lines)."""
    removed = 0
    while True:
        match = re.search(r"(?m)^(?:[ \t]*#.*\n)*[ \t]*" + header_pattern + r"[ \t]*\{", text)
        if not match:
            break
        depth, end = 0, match.end() - 1
        for end in range(match.end() - 1, len(text)):
            if text[end] == "{":
                depth += 1
            elif text[end] == "}":
                depth -= 1
                if depth == 0:
                    break
        else:
            fail(f"unbalanced braces after {what}")
        # Drop the closing brace's line end and one blank line after it.
        stop = end + 1
        while stop < len(text) and text[stop] == "\n" and stop - end <= 2:
            stop += 1
        text = text[: match.start()] + text[stop:]
        removed += 1
    if removed == 0:
        fail(f"no {what} found")
    return text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--listen", required=True, help="127.0.0.1:PORT")
    parser.add_argument("--upstream", required=True, help="comma-separated host:port of the replicas")
    parser.add_argument("--state", required=True, help="directory for logs, pid file and temporary files")
    parser.add_argument("--logs", required=True, help="directory of the access and error logs")
    parser.add_argument("--user", help="the workers' user, when nginx runs as root")
    parser.add_argument("--max-nofile", type=int, help="the open-files limit nginx may raise itself to (ulimit -Hn)")
    args = parser.parse_args()

    with open(args.source, encoding="utf-8") as f:
        text = f.read()
    state, logs = args.state.rstrip("/"), args.logs.rstrip("/")

    text = sub_once(r"^[ \t]*resolver[ \t][^\n]*\n", "", text, "resolver line")
    text = sub_once(r"^[ \t]*resolver_timeout[ \t][^\n]*\n", "", text, "resolver_timeout line")

    def replicas(match):
        indent, params = match.group(1), match.group(2)
        params = re.sub(r"\s*\bresolve\b", "", params)
        return "".join(f"{indent}server {addr}{params};\n" for addr in args.upstream.split(","))

    text = sub_once(r"^([ \t]*)server[ \t]+api:8080([^;\n]*);\n", replicas, text, "`server api:8080` line")
    text = remove_block(text, r"upstream[ \t]+grafana", "grafana upstream")
    text = remove_block(text, r"location[ \t]+(?:=[ \t]+)?/grafana[^\s{]*", "grafana location")
    if "grafana" in re.sub(r"#.*", "", text):
        fail("grafana is still named")

    text = sub_once(r"^([ \t]*listen[ \t]+)80;", rf"\g<1>{args.listen};", text, "`listen 80;`")
    text = sub_once(r"^(error_log[ \t]+)/dev/stderr", rf"\g<1>{logs}/nginx-error.log", text, "top-level error_log")
    text = sub_once(r"^([ \t]*access_log[ \t]+)/dev/stdout", rf"\g<1>{logs}/nginx-access.log", text, "access_log")
    if args.max_nofile:
        # A worker cannot raise its open-files limit above the hard limit it inherits (in a
        # container, not even as root): ask for at most that, or nginx logs an alert.
        def cap(match):
            return f"{match.group(1)}{min(int(match.group(2)), args.max_nofile)};"

        text = sub_once(r"^(worker_rlimit_nofile[ \t]+)(\d+);", cap, text, "worker_rlimit_nofile")
    top = f"pid {state}/nginx.pid;\n"
    if args.user:
        top += f"user {args.user};\n"
    text = sub_once(r"^(worker_processes[ \t])", top + r"\g<1>", text, "worker_processes line")
    temp = "".join(
        f"    {kind}_temp_path {state}/{kind}_temp;\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = sub_once(r"^http[ \t]*\{\n", "http {\n" + temp, text, "http block")

    header = (
        "# Generated by scripts/cluster/nginx-conf.py from deploy/nginx/nginx.conf for `make cluster`:\n"
        "# the replicas' addresses, the listen address, the paths and Grafana differ.\n"
        "# Do not edit; change deploy/nginx/nginx.conf instead.\n"
    )
    sys.stdout.write(header + text)


if __name__ == "__main__":
    main()
