#!/usr/bin/env bash
# Validates the deployment files offline, without a Docker engine or a cluster:
#
#   1. docker-compose.yml renders with .env.example (`docker-compose config -q`, also with
#      the simulate profile);
#   2. the kustomizations render (k8s/overlays/dev, k8s/overlays/production, k8s/monitoring)
#      and validate against the Kubernetes $NF_K8S_VERSION schemas (kubernetes-validate,
#      strict: unknown fields fail), with the production Secret example;
#   3. the prometheus-operator objects, which have no schema there, are checked by
#      scripts/check-crds.py, together with the Prometheus Adapter rules the HPAs need;
#   4. settings that must agree across files, Pod Security `restricted`, the Dockerfile and
#      .dockerignore: scripts/check-deploy-consistency.py;
#   5. Prometheus: promtool checks the configuration and the alert rules, runs the rules'
#      unit tests and parses every dashboard and adapter expression;
#   6. `nginx -t` on deploy/nginx/nginx.conf;
#   7. the PostgreSQL init script parses, and scripts/deploy-metrics.py lists the metrics
#      the files name (a test checks them against the binary's /metrics).
#
# Missing tools are installed: Debian's docker-compose, nginx and kubernetes-client (when
# there is no kubectl), kubernetes-validate and the Dockerfile parser from PyPI into a
# virtualenv, promtool from Debian's `prometheus` package (extracted, not installed).
# Installs go to $NF_DEPLOY_CACHE (default ~/.cache/nimbusfleet/deploy-validate) and are
# reused. Every step is bounded by $NF_STEP_TIMEOUT seconds (installs by twice that). Exits
# non-zero at the first failure. Runs as root or as a user (installs then need sudo, or the
# tools already present).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=${NF_K8S_VERSION:-1.30.0}
CACHE=${NF_DEPLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nimbusfleet/deploy-validate}
STEP_TIMEOUT=${NF_STEP_TIMEOUT:-300}
# Pinned so that a new release cannot change what passes.
PY_REQUIREMENTS=("kubernetes-validate==1.37.0" "dockerfile==3.4.0" "PyYAML==6.0.3")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nimbusfleet-validate.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log() { printf '[validate-deploy] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
bounded() { timeout --kill-after=10 "$STEP_TIMEOUT" "$@"; }
bounded_install() { timeout --kill-after=10 "$((STEP_TIMEOUT * 2))" "$@"; }

# --- installing what is missing ------------------------------------------------------------

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo "$@"
    else
        return 1
    fi
}
# The same as a command prefix, for commands run under `timeout` (which cannot run a shell
# function): nothing as root, `sudo -n` where it works, else `false` (the install fails).
if [ "$(id -u)" = 0 ]; then
    ROOT=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    ROOT=(sudo -n)
else
    ROOT=(false)
fi

APT_UPDATED=
apt_install() {
    command -v apt-get >/dev/null || { log "apt-get is not available to install: $*"; return 1; }
    log "installing from Debian's packages: $*"
    # policy-rc.d answering 101 keeps the packages' services (nginx) from starting.
    local policy=/usr/sbin/policy-rc.d created=
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy" || return 1
        created=1
    fi
    local status=0
    if [ -z "$APT_UPDATED" ]; then
        bounded_install "${ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || status=$?
        APT_UPDATED=1
    fi
    [ "$status" = 0 ] && { bounded_install "${ROOT[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null || status=$?; }
    [ -n "$created" ] && as_root rm -f "$policy"
    return "$status"
}

ensure_compose() {
    command -v docker-compose >/dev/null || apt_install docker-compose \
        || fail "docker-compose is missing (Debian package docker-compose)"
}

NGINX=
ensure_nginx() {
    NGINX=$(command -v nginx || true)
    [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
    if [ -z "$NGINX" ]; then
        apt_install nginx || fail "nginx is missing (Debian package nginx)"
        NGINX=/usr/sbin/nginx
    fi
}

# kustomize v5 (kubectl ≥ 1.27 embeds it): the kustomizations use its `labels` and
# `patches` fields.
KUSTOMIZE=()
kustomize_version_ok() { # prints the version of the kustomize "$@" runs when it is ≥ v5
    local version
    # kubectl prints its own version first, then "Kustomize Version: v5…".
    version=$("$@" 2>/dev/null | { grep -i kustomize || true; } | grep -oE 'v[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
    [ -n "$version" ] || version=$("$@" 2>/dev/null | grep -oE '^v?[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
    [ -n "$version" ] || return 1
    [ "${version#v}" = "$(printf '%s\n%s\n' "${version#v}" 5.0.0 | sort -V | tail -n 1)" ] || return 1
    echo "$version"
}
ensure_kustomize() {
    local version
    if command -v kubectl >/dev/null && version=$(kustomize_version_ok kubectl version --client); then
        KUSTOMIZE=(kubectl kustomize)
    elif command -v kustomize >/dev/null && version=$(kustomize_version_ok kustomize version); then
        KUSTOMIZE=(kustomize build)
    else
        command -v kubectl >/dev/null || apt_install kubernetes-client || true
        if command -v kubectl >/dev/null && version=$(kustomize_version_ok kubectl version --client); then
            KUSTOMIZE=(kubectl kustomize)
        else
            fail "kustomize v5 is needed: kubectl ≥ 1.27, or a kustomize v5 binary on PATH (Debian bookworm's kubernetes-client is 1.20, too old)"
        fi
    fi
    log "kustomize: ${KUSTOMIZE[*]} ($version)"
}

VENV="$CACHE/venv"
ensure_venv() {
    local stamp="$VENV/.nimbusfleet-requirements" wanted
    wanted=$(printf '%s\n' "${PY_REQUIREMENTS[@]}")
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        return 0
    fi
    log "installing ${PY_REQUIREMENTS[*]} into $VENV"
    mkdir -p "$CACHE"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv || fail "python3 -m venv does not work (Debian package python3-venv)"
        python3 -m venv "$VENV" || fail "python3 -m venv failed"
    fi
    bounded_install "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_REQUIREMENTS[@]}" \
        || fail "pip install ${PY_REQUIREMENTS[*]} failed"
    printf '%s\n' "$wanted" >"$stamp"
}

# promtool from Debian's prometheus package, unpacked into the cache (installing the
# package would also install and start a Prometheus server).
PROMTOOL=
ensure_promtool() {
    PROMTOOL=$(command -v promtool || true)
    [ -n "$PROMTOOL" ] && return 0
    local dir="$CACHE/promtool"
    if [ ! -x "$dir/usr/bin/promtool" ] && command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
        log "fetching promtool (Debian package prometheus) into $dir"
        rm -rf "$dir" && mkdir -p "$dir"
        if ! (cd "$dir" && bounded_install apt-get download -qq prometheus >/dev/null 2>&1); then
            # The package lists may be missing or stale.
            if [ -z "$APT_UPDATED" ]; then
                bounded_install "${ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
                APT_UPDATED=1
            fi
            (cd "$dir" && bounded_install apt-get download -qq prometheus >/dev/null 2>&1) || true
        fi
        local deb
        deb=$(find "$dir" -maxdepth 1 -name 'prometheus_*.deb' | head -n 1)
        if [ -n "$deb" ]; then
            dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" ./usr/bin/promtool && rm -f "$deb"
        fi
    fi
    [ -x "$dir/usr/bin/promtool" ] && PROMTOOL="$dir/usr/bin/promtool"
    return 0
}

# --- the checks ------------------------------------------------------------------------------

check_compose() {
    log "docker-compose: docker-compose.yml with .env.example"
    bounded docker-compose --env-file .env.example -f docker-compose.yml config -q \
        || fail "docker-compose config"
    bounded docker-compose --env-file .env.example -f docker-compose.yml --profile simulate config -q \
        || fail "docker-compose config (profile simulate)"
    bounded docker-compose --env-file .env.example -f docker-compose.yml config >"$WORK/compose.yml" \
        || fail "docker-compose config"
    log "ok: docker-compose.yml ($("$VENV/bin/python" -c 'import sys, yaml; print(len(yaml.safe_load(open(sys.argv[1]))["services"]))' "$WORK/compose.yml") services)"
}

render() { # name directory
    bounded "${KUSTOMIZE[@]}" "$2" >"$WORK/$1.yaml" 2>"$WORK/$1.err" \
        || { cat "$WORK/$1.err" >&2; fail "kustomize $2"; }
    log "ok: rendered $2 ($(grep -c '^kind:' "$WORK/$1.yaml") objects)"
}

# kubernetes-validate, strict. It only warns about kinds it has no schema for: those must be
# the prometheus-operator CRDs, which check-crds.py covers.
validate_k8s() { # file…
    local out status=0 crds='^WARN .*kind (ServiceMonitor|PodMonitor|PrometheusRule) with api version monitoring\.coreos\.com/v1 '
    out=$(bounded "$VENV/bin/kubernetes-validate" -k "$K8S_VERSION" --strict --quiet "$@" 2>&1) || status=$?
    out=$(printf '%s\n' "$out" | grep -v -E "$crds" || true)
    [ -n "$out" ] && printf '%s\n' "$out" >&2
    [ "$status" = 0 ] || fail "kubernetes-validate $*"
    [ -z "$out" ] || fail "kubernetes-validate reported objects it could not check (above)"
    log "ok: ${*##*/} valid for Kubernetes $K8S_VERSION"
}

check_kubernetes() {
    render dev k8s/overlays/dev
    render production k8s/overlays/production
    render monitoring k8s/monitoring
    validate_k8s "$WORK/dev.yaml"
    validate_k8s "$WORK/production.yaml" k8s/overlays/production/secret.example.yaml
    validate_k8s "$WORK/monitoring.yaml"
    bounded "$VENV/bin/python" scripts/check-crds.py "$WORK/monitoring.yaml" \
        --targets "$WORK/dev.yaml" "$WORK/production.yaml" \
        --adapter-values k8s/monitoring/prometheus-adapter-values.yaml >&2 \
        || fail "scripts/check-crds.py"
}

check_consistency() {
    bounded "$VENV/bin/python" scripts/check-deploy-consistency.py \
        --compose "$WORK/compose.yml" \
        --overlay dev="$WORK/dev.yaml" --overlay production="$WORK/production.yaml" \
        --monitoring "$WORK/monitoring.yaml" --promql "$WORK/promql.yml" >&2 \
        || fail "scripts/check-deploy-consistency.py"
}

check_prometheus() {
    if [ -z "$PROMTOOL" ]; then
        log "skipped: promtool is not available (no apt-get); rules and PromQL not parsed"
        return 0
    fi
    log "promtool: $("$PROMTOOL" --version 2>&1 | head -n 1)"
    bounded "$PROMTOOL" check config deploy/prometheus/prometheus.yml >&2 || fail "promtool check config"
    bounded "$PROMTOOL" check rules deploy/prometheus/alerts.yml >&2 || fail "promtool check rules"
    (cd deploy/prometheus && bounded "$PROMTOOL" test rules alerts.test.yml) >&2 || fail "promtool test rules"
    bounded "$PROMTOOL" check rules "$WORK/promql.yml" >&2 || fail "dashboard or adapter PromQL does not parse"
    log "ok: Prometheus configuration, alert rules and their tests, dashboard and adapter PromQL"
}

# nginx -t on a copy: the upstream host names (api, grafana) only resolve inside the
# compose network, so the copy names 127.0.0.1 with the same ports; nginx older than
# 1.27.3 (Debian bookworm has 1.22) does not know the `resolve` parameter, which the copy
# then drops; it listens on a free loopback port instead of 80, and its temporary paths, pid
# file and logs (/dev/stdout and /dev/stderr in the container) go to a scratch directory, so
# that it runs as any user. Everything else is tested as written.
check_nginx() {
    local dir="$WORK/nginx" version edits port
    mkdir -p "$dir"
    # `nginx -t` also binds the listen sockets: a free loopback port stands in for port 80.
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    version=$("$NGINX" -v 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)
    edits=(
        -e '/^[[:space:]]*server[[:space:]]+[A-Za-z][A-Za-z0-9.-]*:[0-9]+/ s/(server[[:space:]]+)[A-Za-z][A-Za-z0-9.-]*:/\1127.0.0.1:/'
        -e "s|^([[:space:]]*listen[[:space:]]+)80;|\\1127.0.0.1:$port;|"
        -e "s|^([[:space:]]*error_log[[:space:]]+)/dev/stderr|\\1$dir/error.log|"
        -e "s|^([[:space:]]*access_log[[:space:]]+)/dev/stdout|\\1$dir/access.log|"
        # On the same line, so that nginx's line numbers are those of the original.
        -e "s|^http \\{|http { client_body_temp_path $dir/client_body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;|"
    )
    local note=
    if [ "$(printf '%s\n%s\n' "$version" 1.27.3 | sort -V | head -n 1)" != 1.27.3 ]; then
        edits+=(-e '/^[[:space:]]*server[[:space:]]/ s/[[:space:]]resolve([[:space:];])/\1/')
        note=", \`resolve\` dropped"
    fi
    sed -E "${edits[@]}" deploy/nginx/nginx.conf >"$dir/nginx.conf"
    if ! grep -qE '^[[:space:]]*server[[:space:]]+127\.0\.0\.1:8080' "$dir/nginx.conf" \
        || ! grep -q "listen 127.0.0.1:$port;" "$dir/nginx.conf"; then
        fail "could not adapt deploy/nginx/nginx.conf for an offline test"
    fi
    bounded "$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g "pid $dir/nginx.pid;" \
        || fail "nginx -t deploy/nginx/nginx.conf (nginx $version; the line numbers above are the file's)"
    log "ok: nginx -t (nginx $version$note)"
}

check_misc() {
    bash -n deploy/postgres/init-shards.sh || fail "deploy/postgres/init-shards.sh does not parse"
    # Where shellcheck happens to be installed (it is not installed for this): warnings and
    # errors only, so that its version's style notes do not decide.
    if command -v shellcheck >/dev/null; then
        shellcheck -S warning deploy/postgres/init-shards.sh scripts/validate-deploy.sh || fail "shellcheck"
    fi
    local metrics
    metrics=$(bounded python3 scripts/deploy-metrics.py) || fail "scripts/deploy-metrics.py"
    log "ok: the deployment files name $(printf '%s\n' "$metrics" | wc -l) NimbusFleet metrics (scripts/deploy-metrics.py --verbose lists them)"
}

ensure_compose
ensure_nginx
ensure_kustomize
ensure_venv
ensure_promtool

check_compose
check_kubernetes
check_consistency
check_prometheus
check_nginx
check_misc
log "all deployment checks passed"
