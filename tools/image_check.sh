#!/usr/bin/env bash
# Build the project's Docker image and check that it runs and reads photos, where no container registry is
# reachable: a stand-in for the python:3.11-slim-bookworm base is made with debootstrap (Debian bookworm from
# deb.debian.org, Python 3.11 in a venv on PATH as the official image has it on /usr/local), imported, and the
# Dockerfile is built FROM it (the BASE_IMAGE build arg; its default stays the real base). Then
# tools/image_check.py runs the image against the simulated tenant: /healthz, a photo of the error read inside
# the container (bot.photo and Tesseract), and a pasted photo over HTTP that starts a diagnosis against the sim.
#
# Needs root, debootstrap and a running Docker daemon; on a machine without a network bridge:
#   apt-get install debootstrap docker.io && dockerd --bridge=none --iptables=false &
# Usage: tools/image_check.sh            (the base is made once, then reused; REBUILD_BASE=1 makes it again)
# Not part of `make test` (the base alone takes minutes); the fast check is tests/unit/test_package.py (the Dockerfile).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BASE:-enrollment-doctor-base:bookworm-standin}
IMAGE=${IMAGE:-enrollment-doctor:check}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-"$ROOT/.venv/bin/python"}
# The classic builder: this Docker CLI may have no buildx plugin, and the Dockerfile needs nothing of BuildKit.
export DOCKER_BUILDKIT=0

docker info >/dev/null 2>&1 || { echo "no Docker daemon: start one (dockerd --bridge=none --iptables=false &)" >&2; exit 2; }

if [ -n "${REBUILD_BASE:-}" ] || ! docker image inspect "$BASE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }
    rootfs=$(mktemp -d /tmp/standin-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    echo "== debootstrap bookworm into $rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$MIRROR"
    # Where the machine reaches the internet through a TLS-inspecting proxy, its CA goes into the stand-in too
    # (the official image would be given it the same way); nothing else of the host is copied.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null
    fi
    # python:3.11-slim has `python` and `pip` of Python 3.11 first on PATH, outside Debian's managed Python.
    chroot "$rootfs" python3 -m venv /opt/python
    chroot "$rootfs" /opt/python/bin/pip --version
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    echo "== import as $BASE"
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        - "$BASE"
fi

echo "== build $IMAGE FROM $BASE"
docker build --network host --build-arg "BASE_IMAGE=$BASE" -t "$IMAGE" "$ROOT"
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
base_size=$(docker image inspect -f '{{.Size}}' "$BASE")
echo "== image $IMAGE: $((size / 1000000)) MB (the stand-in base: $((base_size / 1000000)) MB)"

echo "== run it against the simulated tenant"
"$PYTHON" "$ROOT/tools/image_check.py" --image "$IMAGE"
