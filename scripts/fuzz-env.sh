#!/usr/bin/env bash
# Sourced by scripts/fuzz.sh: makes sure a Python virtualenv with a pinned schemathesis
# (schema-based API fuzzer, from PyPI) exists and exports NF_SCHEMATHESIS (its CLI).
#
#   . scripts/fuzz-env.sh && nf_ensure_schemathesis
#
# The venv lives outside the clone, shared by every checkout on this machine:
# $NF_FUZZ_VENV (default $HOME/.cache/nimbusfleet/venv-fuzz). python3-venv is installed
# from Debian's packages when `python3 -m venv` cannot create one.

# The pinned version: scripts/fuzz.sh uses the 4.x CLI (check names, --phases, --report).
NF_SCHEMATHESIS_VERSION=${NF_SCHEMATHESIS_VERSION:-4.32.5}
NF_FUZZ_VENV=${NF_FUZZ_VENV:-$HOME/.cache/nimbusfleet/venv-fuzz}

nf_fuzz_log() { printf '[fuzz] %s\n' "$*" >&2; }

# Can this python3 create a venv with pip in it? (Debian's python3 needs python3-venv.)
nf_venv_ok() {
    local probe
    probe=$(mktemp -d /tmp/nf-venv-probe.XXXXXX) || return 1
    if python3 -m venv "$probe/v" >/dev/null 2>&1 && [ -x "$probe/v/bin/pip" ]; then
        rm -rf "$probe"
        return 0
    fi
    rm -rf "$probe"
    return 1
}

nf_install_python_venv() {
    if ! command -v apt-get >/dev/null; then
        nf_fuzz_log "python3 cannot create a venv and apt-get is not available; install python3-venv and retry"
        return 1
    fi
    local pkgs=(python3-venv)
    command -v python3 >/dev/null || pkgs=(python3 python3-venv)
    nf_fuzz_log "installing ${pkgs[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

nf_ensure_schemathesis() {
    local venv=$NF_FUZZ_VENV want=$NF_SCHEMATHESIS_VERSION have=""
    local st=$venv/bin/schemathesis
    if [ -x "$venv/bin/python" ]; then
        have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)
    fi
    if [ "$have" = "$want" ] && [ -x "$st" ]; then
        nf_fuzz_log "schemathesis $have (venv $venv)"
        NF_SCHEMATHESIS=$st
        export NF_SCHEMATHESIS
        return 0
    fi
    if [ ! -x "$venv/bin/pip" ]; then
        if ! command -v python3 >/dev/null || ! nf_venv_ok; then
            nf_install_python_venv || return 1
        fi
        nf_fuzz_log "creating venv $venv"
        rm -rf "$venv"
        mkdir -p "$(dirname "$venv")"
        python3 -m venv "$venv" || { nf_fuzz_log "python3 -m venv $venv failed"; return 1; }
    fi
    nf_fuzz_log "installing schemathesis==$want into $venv${have:+ (had $have)}"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$want" >&2 \
        || { nf_fuzz_log "pip install schemathesis==$want failed"; return 1; }
    NF_SCHEMATHESIS=$st
    export NF_SCHEMATHESIS
    nf_fuzz_log "schemathesis $("$st" --version 2>/dev/null | tr -d '\n')"
}
