#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks: redis-server and python3-venv.
set -euo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need[*]} with apt"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's redis package starts a system service; shopsync starts its own where needed.
exit 0
