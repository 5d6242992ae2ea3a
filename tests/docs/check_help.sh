#!/bin/sh
# cli.help: `keel --help` and `keel-echo --help` tell a newcomer the options,
# signals, environment variables and where the documentation is; keel run from
# its build folder defaults to the quick start's conf/keel.yaml.
# Usage: check_help.sh KEEL KEEL_ECHO
set -eu
keel=$1 echo_bin=$2
failures=0
expect() {  # expect NAME TEXT WANTED...
  name=$1 text=$2
  shift 2
  for wanted in "$@"; do
    printf '%s' "$text" | grep -qF -- "$wanted" || { echo "FAIL: $name --help lacks '$wanted'" >&2; failures=$((failures + 1)); }
  done
}
help=$("$keel" --help)
expect keel "$help" --config --check-config --version SIGHUP SIGTERM SIGINT SIGUSR1 \
  KEEL_ADMIN_TOKEN KEEL_ETCD_PASSWORD NOTIFY_SOCKET "man 8 keel" configuration.md admin-api.md operations.md \
  "(default conf/keel.yaml)"
[ "$("$keel" -h)" = "$help" ] || { echo "FAIL: keel -h differs from --help" >&2; failures=$((failures + 1)); }
help=$("$echo_bin" --help)
expect keel-echo "$help" --listen --id --threads --delay SIGTERM SIGINT "environment" "man 8 keel"
if "$keel" --bogus 2>/dev/null; then echo "FAIL: keel --bogus exited 0" >&2; failures=$((failures + 1)); fi
[ "$failures" -eq 0 ] && echo "help texts OK"
exit "$failures"
