//! Throwaway certificates for the TLS tests, made with the `openssl` CLI.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::redis_topology::run;

/// A throwaway CA, a server certificate (SAN `IP:127.0.0.1`, `DNS:localhost`, EKU
/// serverAuth) and a client certificate (EKU clientAuth) signed by it, and an
/// unrelated CA for "wrong CA is refused" tests. EC P-256 keys in PKCS#8 PEM
/// (`BEGIN PRIVATE KEY`), X.509 v3, valid for a day. Absolute paths.
pub struct TlsCerts {
    pub dir: TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub other_ca: PathBuf,
}

const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
                      subjectKeyIdentifier=hash\n";
// No keyEncipherment: it is an RSA usage (RFC 5480 allows only signature and key
// agreement usages for EC keys).
const LEAF_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                        subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";

impl TlsCerts {
    /// Makes them with the `openssl` CLI in a new temporary directory.
    pub fn make() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Absolute: redis-server resolves relative certificate paths against its --dir.
        let d = dir.path().canonicalize().unwrap();
        issue(&d, "ca", "/CN=sentiserve test CA", CA_EXT, None);
        let server_ext = format!("{LEAF_EXT}extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n");
        issue(&d, "server", "/CN=localhost", &server_ext, Some("ca"));
        let client_ext = format!("{LEAF_EXT}extendedKeyUsage=clientAuth\n");
        issue(&d, "client", "/CN=sentiserve test client", &client_ext, Some("ca"));
        issue(&d, "other_ca", "/CN=unrelated test CA", CA_EXT, None);
        Self {
            ca: d.join("ca.pem"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server.key"),
            client_cert: d.join("client.pem"),
            client_key: d.join("client.key"),
            other_ca: d.join("other_ca.pem"),
            dir,
        }
    }
}

/// Makes `NAME.key` and `NAME.pem` in `dir` with the v3 extensions `ext`, signed by
/// `ISSUER.pem`/`ISSUER.key`, or self-signed when `issuer` is `None`.
fn issue(dir: &Path, name: &str, subject: &str, ext: &str, issuer: Option<&str>) {
    let file = |name: &str, suffix: &str| dir.join(format!("{name}.{suffix}")).to_str().unwrap().to_string();
    let [key, csr, pem, ext_file] = ["key", "csr", "pem", "ext"].map(|suffix| file(name, suffix));
    std::fs::write(&ext_file, ext).unwrap();
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &key]);
    openssl(&["req", "-new", "-key", &key, "-subj", subject, "-out", &csr]);
    let mut args = vec!["x509", "-req", "-in", &csr, "-days", "1", "-sha256", "-extfile", &ext_file, "-out", &pem];
    // -CAcreateserial: ISSUER.srl beside ISSUER.pem.
    let (ca_pem, ca_key) = issuer.map(|ca| (file(ca, "pem"), file(ca, "key"))).unwrap_or_default();
    match issuer {
        Some(_) => args.extend(["-CA", &ca_pem, "-CAkey", &ca_key, "-CAcreateserial"]),
        None => args.extend(["-signkey", &key]),
    }
    openssl(&args);
}

fn openssl(args: &[&str]) {
    run("openssl", args).unwrap_or_else(|e| panic!("{e}"));
}
