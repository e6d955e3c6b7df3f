#!/usr/bin/env bash
# Installs the Debian packages Liên Thông needs, only when they are missing. Idempotent.
set -euo pipefail

PG_MAJOR=15
need=()
[ -x "/usr/lib/postgresql/${PG_MAJOR}/bin/postgres" ] || need+=("postgresql-${PG_MAJOR}")
[ -f "/usr/share/postgresql/${PG_MAJOR}/extension/postgis.control" ] || need+=("postgresql-${PG_MAJOR}-postgis-3")
command -v node >/dev/null 2>&1 || need+=("nodejs")
command -v npm >/dev/null 2>&1 || need+=("npm")
command -v wrk >/dev/null 2>&1 || need+=("wrk")
command -v runuser >/dev/null 2>&1 || need+=("util-linux")
# The GraphiQL browser test (tests/e2e): Debian's Chromium and the chromedriver of the same build
[ -x /usr/bin/chromium ] || need+=("chromium")
[ -x /usr/bin/chromedriver ] || need+=("chromium-driver")

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${need[*]}" >&2
  echo "Install them as root (apt-get install ${need[*]})," >&2
  echo "or set LIENTHONG_DATABASE_URL to a PostgreSQL ${PG_MAJOR} server with PostGIS 3." >&2
  if [ -n "${LIENTHONG_DATABASE_URL:-}" ]; then
    echo "LIENTHONG_DATABASE_URL is set: continuing without the embedded cluster." >&2
    exit 0
  fi
  exit 1
fi

echo "Installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
