//! Every file under `deploy/` is checked by `scripts/lint-deploy.sh`: hadolint on the
//! Dockerfile, kubernetes-validate `--strict` on the manifests (Kubernetes 1.30 and
//! 1.33), the Compose Specification schema, `nginx -t` on the load balancer's
//! configuration, and cross-checks against the code (probe routes, variables).

use std::path::Path;
use std::process::Command;

#[test]
fn every_deployment_file_passes_its_linter_and_the_cross_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("bash")
        .arg(root.join("scripts/lint-deploy.sh"))
        .current_dir(root)
        .env("LINT_DEPLOY_REQUIRE_NGINX", "1")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "lint-deploy failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(!stdout.contains("FAIL "), "{stdout}");
    eprintln!(
        "{}",
        stdout.lines().filter(|l| l.starts_with("PASS") || l.starts_with("SKIP")).collect::<Vec<_>>().join("\n")
    );
}
