#!/bin/sh
# install.tree: `cmake --install BUILD` into a fresh DESTDIR installs the layout
# docs/operations.md describes, and the installed pieces work: keel and keel-echo
# run, the installed keel's default config is the installed one, that config
# validates, the unit file passes `systemd-analyze verify`, the man pages render
# without groff warnings.
# Usage: check_install.sh BUILD PREFIX BINDIR MANDIR SYSCONFDIR UNITDIR DATADIR DOCDIR LOCALSTATEDIR
set -eu
build=$1 bindir=$3 mandir=$4 sysconfdir=$5 unitdir=$6 datadir=$7 docdir=$8 statedir=$9
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

if ! DESTDIR="$dest" cmake --install "$build" >"$dest.log" 2>&1; then
  cat "$dest.log" >&2
  rm -f "$dest.log"
  exit 1
fi
rm -f "$dest.log"

for file in \
  "$bindir/keel" "$bindir/keel-echo" \
  "$mandir/man8/keel.8.gz" "$mandir/man1/keel-echo.1.gz" \
  "$sysconfdir/keel/keel.yaml" "$sysconfdir/logrotate.d/keel" \
  "$unitdir/keel.service" \
  "$datadir/keel/prometheus/keel-alerts.yml" "$datadir/keel/prometheus/keel-alerts.test.yml" \
  "$datadir/keel/prometheus/keel-dashboard.json" \
  "$docdir/README.md" "$docdir/copyright" "$docdir/changelog.Debian.gz" \
  "$docdir/configuration.md" "$docdir/admin-api.md" "$docdir/operations.md" \
  "$docdir/architecture.md" "$docdir/benchmarks.md"; do
  [ -f "$dest$file" ] || fail "missing $file"
done
[ -d "$dest$statedir/lib/keel" ] || fail "missing directory $statedir/lib/keel"
for binary in keel keel-echo; do
  [ -x "$dest$bindir/$binary" ] || fail "$bindir/$binary is not executable"
done

# The installed keel, started without --config, reads the installed config.
help=$("$dest$bindir/keel" --help) || fail "installed keel --help exited $?"
echo "$help" | grep -q "(default $sysconfdir/keel/keel.yaml)" ||
  fail "installed keel --help does not name $sysconfdir/keel/keel.yaml as its default config"
"$dest$bindir/keel-echo" --help >/dev/null || fail "installed keel-echo --help exited $?"

# The installed config validates (its state file directory moved into DESTDIR).
sed "s|/var/lib/keel/|$dest$statedir/lib/keel/|" "$dest$sysconfdir/keel/keel.yaml" > "$dest/check.yaml"
"$dest$bindir/keel" --check-config "$dest/check.yaml" >/dev/null ||
  fail "the installed $sysconfdir/keel/keel.yaml does not validate"

# The unit: paths point into the installed tree; systemd accepts it.
unit="$dest$unitdir/keel.service"
grep -q "^ExecStart=$bindir/keel --config $sysconfdir/keel/keel.yaml\$" "$unit" || fail "keel.service: ExecStart"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit" || fail "keel.service: ExecReload is not SIGHUP"
grep -q '^Type=notify$' "$unit" || fail "keel.service: Type"
if command -v systemd-analyze >/dev/null; then
  # Unknown or malformed settings are reported here. The binary is looked up at its
  # real path, where it is not installed (it is in DESTDIR): that line is expected.
  out=$(systemd-analyze verify --man=no "$unit" 2>&1 |
        grep -v -e "Command $bindir/keel is not executable" -e "^$" || true)
  [ -z "$out" ] || fail "systemd-analyze verify keel.service: $out"
fi

# Man pages render with no groff warning.
if command -v groff >/dev/null; then
  for page in "$mandir/man8/keel.8.gz" "$mandir/man1/keel-echo.1.gz"; do
    warnings=$(gzip -dc "$dest$page" | groff -man -ww -Tutf8 -z 2>&1 || true)
    [ -z "$warnings" ] || fail "$page: $warnings"
  done
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures problem(s) in the installed tree" >&2
  exit 1
fi
echo "installed tree OK ($(find "$dest" -type f | wc -l) files)"
