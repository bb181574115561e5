#!/usr/bin/env bash
# Validates the deployment files. Called by .ci/run; runnable by hand from anywhere.
#
#   - every YAML file parses; the Grafana dashboard is JSON; the TOML configs parse
#   - every meoktong_* metric named by the alert rules and the dashboard exists in
#     crates/metrics (the contract names)
#   - Prometheus: `promtool check config` (with its rule files), `promtool test rules`
#     (promtool from Debian's `prometheus` package; required)
#   - Kubernetes: `kubernetes-validate --strict` (PyPI; bundled API schemas) when installed,
#     and always our own checks (probes on /readyz and /healthz, secrets by reference,
#     non-root, selectors that match)
#   - systemd: `systemd-analyze verify` when available
#   - Dockerfile: multi-stage, non-root runtime
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$here"
failed=0
# PyYAML: the system's, else the venv .ci/run makes for kubernetes-validate (which brings it).
py=python3
if ! python3 -c 'import yaml' 2>/dev/null && [ -x "$root/target/deploy-venv/bin/python" ]; then
  py="$root/target/deploy-venv/bin/python"
fi
step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; failed=1; }

step "YAML, JSON and TOML parse; metric names are the contract's"
"$py" - "$root" <<'PY' || failed=1
import json, pathlib, re, sys, tomllib
import yaml

root = pathlib.Path(sys.argv[1])
deploy = root / "deploy"
bad = 0
def fail(msg):
    global bad
    bad = 1
    print(f"FAIL: {msg}", file=sys.stderr)

docs = {}
for p in sorted(list(deploy.rglob("*.yml")) + list(deploy.rglob("*.yaml"))):
    try:
        docs[p] = [d for d in yaml.safe_load_all(p.read_text()) if d is not None]
    except yaml.YAMLError as e:
        fail(f"{p.relative_to(root)}: {e}")
for p in sorted(deploy.rglob("*.toml")):
    try:
        tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        fail(f"{p.relative_to(root)}: {e}")
cm = deploy / "kubernetes" / "configmap.yaml"
for d in docs.get(cm, []):
    try:
        tomllib.loads(d["data"]["meoktong.toml"])
    except (KeyError, tomllib.TOMLDecodeError) as e:
        fail(f"{cm.relative_to(root)}: meoktong.toml: {e}")

# Metric names: those registered in crates/metrics, with a histogram's series suffixes.
src = (root / "crates" / "metrics" / "src" / "lib.rs").read_text()
known = set(re.findall(r'"(meoktong_[a-z_]+)"', src))
histograms = set(re.findall(r'HistogramOpts::new\(\s*"(meoktong_[a-z_]+)"', src))
for h in histograms:
    known |= {h + "_bucket", h + "_sum", h + "_count"}
if not known:
    fail("no metric names found in crates/metrics/src/lib.rs")

exprs = []
for d in docs.get(deploy / "prometheus" / "alerts.yml", []):
    for g in d.get("groups", []):
        for r in g.get("rules", []):
            exprs.append(("alerts.yml " + r.get("alert", "?"), r["expr"]))
dash_path = deploy / "grafana" / "meoktong-dashboard.json"
try:
    dash = json.loads(dash_path.read_text())
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            exprs.append((f"dashboard panel {panel['title']!r}", t["expr"]))
except (ValueError, KeyError) as e:
    fail(f"{dash_path.relative_to(root)}: {e}")
for where, expr in exprs:
    for name in re.findall(r"\bmeoktong_[a-z_]+", expr):
        if name not in known:
            fail(f"{where}: unknown metric {name} (known: {', '.join(sorted(known))})")
print(f"   {len(docs)} YAML files, {len(exprs)} PromQL expressions, {len(known)} metric series names")
sys.exit(bad)
PY

step "Prometheus: promtool"
if command -v promtool >/dev/null 2>&1; then
  promtool check config prometheus/prometheus.yml || fail "promtool check config"
  promtool test rules prometheus/alerts_test.yml || fail "promtool test rules"
else
  fail "promtool not found (apt-get install prometheus)"
fi

step "Kubernetes: schemas and contract"
kv="${KUBERNETES_VALIDATE:-}"
[ -z "$kv" ] && command -v kubernetes-validate >/dev/null 2>&1 && kv="$(command -v kubernetes-validate)"
[ -z "$kv" ] && [ -x "$root/target/deploy-venv/bin/kubernetes-validate" ] && kv="$root/target/deploy-venv/bin/kubernetes-validate"
if [ -n "$kv" ]; then
  manifests=()
  for f in kubernetes/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
  done
  if "$kv" --strict --quiet "${manifests[@]}"; then
    echo "   kubernetes-validate --strict: ${#manifests[@]} manifests valid"
  else
    fail "kubernetes-validate"
  fi
else
  echo "   kubernetes-validate not installed (pip install kubernetes-validate): schema check skipped"
fi
"$py" - "$here/kubernetes" <<'PY' || failed=1
import pathlib, sys
import yaml

base = pathlib.Path(sys.argv[1])
bad = 0
def fail(msg):
    global bad
    bad = 1
    print(f"FAIL: kubernetes: {msg}", file=sys.stderr)

objs = {}
for p in sorted(base.glob("*.yaml")):
    for d in yaml.safe_load_all(p.read_text()):
        if not d:
            continue
        for key in ("apiVersion", "kind"):
            if key not in d:
                fail(f"{p.name}: a document without {key}")
        if d.get("kind") != "Kustomization" and not d.get("metadata", {}).get("name"):
            fail(f"{p.name}: {d.get('kind')} without metadata.name")
        objs.setdefault(d.get("kind"), []).append((p.name, d))

kust = objs.get("Kustomization", [(None, {})])[0][1]
for res in kust.get("resources", []):
    if not (base / res).exists():
        fail(f"kustomization.yaml names missing {res}")

deps = objs.get("Deployment", [])
if len(deps) != 1:
    fail("expected one Deployment")
for name, d in deps:
    spec = d["spec"]
    labels = spec["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
        fail(f"{name}: selector does not match the pod labels")
    pod = spec["template"]["spec"]
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        fail(f"{name}: pods must run as non-root")
    c = pod["containers"][0]
    if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        fail(f"{name}: readinessProbe must GET /readyz")
    if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        fail(f"{name}: livenessProbe must GET /healthz")
    env = {e["name"]: e for e in c.get("env", [])}
    for secret in ("MEOKTONG_DATA_KEY", "TWILIO_AUTH_TOKEN", "MEOKTONG_DATABASE__URL"):
        if "secretKeyRef" not in env.get(secret, {}).get("valueFrom", {}):
            fail(f"{name}: {secret} must come from a Secret reference")
    if any("value" in e for e in env.values() if e["name"].endswith(("KEY", "TOKEN", "PASSWORD"))):
        fail(f"{name}: a secret is written inline")
    if not c.get("securityContext", {}).get("readOnlyRootFilesystem"):
        fail(f"{name}: the root filesystem should be read-only")
    deployment = d["metadata"]["name"]
    for kind in ("PodDisruptionBudget", "HorizontalPodAutoscaler", "Service", "ConfigMap"):
        if kind not in objs:
            fail(f"missing a {kind}")
    for _, h in objs.get("HorizontalPodAutoscaler", []):
        if h["spec"]["scaleTargetRef"]["name"] != deployment:
            fail("the HorizontalPodAutoscaler targets another Deployment")
        if h["spec"].get("minReplicas", 1) < 2:
            fail("the HorizontalPodAutoscaler should keep at least two replicas")
    for _, s in objs.get("Service", []) + objs.get("PodDisruptionBudget", []):
        sel = s["spec"].get("selector", {})
        sel = sel.get("matchLabels", sel)
        if any(labels.get(k) != v for k, v in sel.items()):
            fail(f"{s['kind']} {s['metadata']['name']} selects no pod of the Deployment")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    cms = {m["metadata"]["name"] for _, m in objs.get("ConfigMap", [])}
    for v in volumes.values():
        if "configMap" in v and v["configMap"]["name"] not in cms:
            fail(f"{name}: volume {v['name']} names a missing ConfigMap")
sys.exit(bad)
PY

step "systemd units"
if command -v systemd-analyze >/dev/null 2>&1; then
  for unit in systemd/*.service; do
    # The binary and the user exist only on a real host.
    out="$(systemd-analyze verify "$unit" 2>&1 | grep -v -e 'is not executable' -e 'Failed to resolve user' || true)"
    if [ -n "$out" ]; then
      echo "$out" >&2
      fail "systemd-analyze verify $unit"
    fi
  done
else
  echo "   systemd-analyze not available: skipped"
fi

step "Dockerfile"
grep -Eq '^FROM .+ AS build' Dockerfile || fail "Dockerfile: no build stage"
[ "$(grep -c '^FROM ' Dockerfile)" -ge 2 ] || fail "Dockerfile: not multi-stage"
grep -Eq '^USER [1-9][0-9]*' Dockerfile || fail "Dockerfile: the runtime must run as a non-root user id"
grep -Eq '^FROM debian:[a-z]+-slim' Dockerfile || fail "Dockerfile: the runtime should be a slim image"

if [ "$failed" -ne 0 ]; then
  echo "deploy/validate.sh: FAILED" >&2
  exit 1
fi
echo "deploy/validate.sh: all deployment files valid"
