#!/usr/bin/env bash
# The whole test suite, as a newcomer and CI run it: `bash ops/test.sh`.
# Installs what the tests need, checks formatting, lints, the planner's purity, then runs
# every test (debug build: one build of the dependencies serves lints and tests).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s\n' "$*"; }

# --- moto: the AWS emulator tests/aws_*.rs and benches/aws.rs run against (issue 4) ---
step "moto server (AWS emulator for the aws backend tests)"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'moto[server]==5.2.1'
# --- end moto ---

# --- Prometheus: the real server tests/prometheus.rs runs checks against (issue 5) ---
step "Prometheus server (for the prometheus check tests)"
if ! command -v prometheus >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus ]; then
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
fi
# The Debian package starts a system service on :9090; the tests start their own servers on
# free ports, so it does not matter whether it runs.
prometheus --version 2>&1 | head -1
# --- end Prometheus ---

# --- GitHub workflows and the read-only policy (issue 11: plans in pull requests) ---
step "GitHub workflows (ops/github/*.yml) against GitHub's workflow schema"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'check-jsonschema==0.39.0'
check-jsonschema --builtin-schema vendor.github-workflows ops/github/*.yml
# Planning only reads: every action of the read-only policy is a List/Get/Describe one that
# the full policy (ops/iam-policy.json) also grants.
python3 - <<'PY'
import json
def actions(path):
    out = set()
    for statement in json.load(open(path))["Statement"]:
        a = statement["Action"]
        out.update([a] if isinstance(a, str) else a)
    return out
readonly, full = actions("ops/iam-policy-readonly.json"), actions("ops/iam-policy.json")
writes = sorted(a for a in readonly if not a.split(":")[1].startswith(("List", "Get", "Describe")))
extra = sorted(readonly - full)
if writes or extra:
    raise SystemExit(f"ops/iam-policy-readonly.json: not read-only {writes}, not in ops/iam-policy.json {extra}")
print(f"ops/iam-policy-readonly.json: {len(readonly)} read-only actions")
PY
# --- end GitHub workflows ---

# --- Chromium: the headless browser tests/dashboard.rs reads the dashboard's DOM with (issue 12) ---
step "Chromium (headless browser for the dashboard and report tests)"
if ! command -v chromium >/dev/null 2>&1; then
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
fi
chromium --version 2>&1 | head -1
# --- end Chromium ---

step "format"
cargo fmt --all -- --check

step "planner purity (no I/O, clock or async in src/plan)"
# Comment lines may name what is forbidden; code lines may not.
if grep -rnE 'tokio|std::fs|aws_|SystemTime|Instant::now|async fn|reqwest' src/plan | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//'; then
  echo "src/plan must stay pure: the lines above perform I/O, read a clock or await" >&2
  exit 1
fi

step "clippy"
cargo clippy --all-targets --locked -- -D warnings

step "tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast --profile ci
  # nextest does not run doctests
  cargo test --locked --doc
else
  cargo test --locked --no-fail-fast
fi

step "systemd units (ops/systemd) with systemd-analyze verify, where systemd is present"
if command -v systemd-analyze >/dev/null 2>&1; then
  # The units name /usr/local/bin/kong; verify checks that ExecStart is executable, so the
  # check runs on copies naming the kong the tests built.
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  units=$(mktemp -d)
  for unit in service timer; do
    sed "s#/usr/local/bin/kong#$target_dir/debug/kong#" "ops/systemd/kong-drill@.$unit" \
      > "$units/kong-drill@us-east-1.$unit"
  done
  systemd-analyze verify "$units/kong-drill@us-east-1.service" "$units/kong-drill@us-east-1.timer"
  echo "ops/systemd: kong-drill@.service and kong-drill@.timer verified"
  rm -rf "$units"
else
  echo "systemd-analyze is not installed: ops/systemd not verified"
fi

# Benches and examples are type-checked by clippy --all-targets above; they run on demand:
#   cargo bench --bench plan | exec | aws

echo
echo "all tests passed"
