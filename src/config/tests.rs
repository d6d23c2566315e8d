//! Flags to configuration: keys (empty ones refused), the bind address and the
//! exposure warning, secrets kept out of `Debug`, and the Redis TLS and password flags.

use clap::Parser;

use super::{ConfigError, HttpConfig, Secret, ServeArgs};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn args(flags: &[&str]) -> ServeArgs {
    Cli::try_parse_from(std::iter::once("serve").chain(flags.iter().copied())).unwrap().serve
}

fn empty_key_error(flags: &[&str]) -> String {
    match args(flags).config() {
        Err(e @ ConfigError::EmptyKey { .. }) => e.to_string(),
        Err(e) => panic!("{flags:?}: another error: {e}"),
        Ok(c) => panic!("{flags:?}: accepted, keys {:?} / {:?}", c.http.api_key, c.http.admin_key),
    }
}

#[test]
fn empty_or_blank_keys_stop_start_up_from_a_file_a_flag_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let empty = write("empty", b"");
    let blank_first = write("blank-first", b"\nK1\n");
    let spaces = write("spaces", b"   \t\n");
    for file in [&empty, &blank_first, &spaces] {
        let message = empty_key_error(&["--api-key-file", file]);
        assert!(message.contains(file.as_str()) && message.contains("first line"), "{message}");
        let message = empty_key_error(&["--api-key", "k", "--admin-key-file", file]);
        assert!(message.contains(file.as_str()), "{message}");
    }
    let message = empty_key_error(&["--api-key", ""]);
    assert!(message.contains("--api-key (SENTISERVE_API_KEY) is empty"), "{message}");
    let message = empty_key_error(&["--admin-key", "  "]);
    assert!(message.contains("--admin-key"), "{message}");

    // Unreadable: missing, a directory, not UTF-8.
    let not_utf8 = write("latin1", b"k\xe9y\n");
    let missing = dir.path().join("missing").display().to_string();
    let directory = dir.path().display().to_string();
    for file in [&missing, &directory, &not_utf8] {
        match args(&["--api-key-file", file]).config() {
            Err(ConfigError::KeyFile { path, .. }) => assert_eq!(path.display().to_string(), *file),
            other => panic!("{file}: {:?}", other.map(|c| c.http)),
        }
    }

    // A good file: first line, trimmed.
    let good = write("good", b"  file-key \nignored\n");
    let config = args(&["--api-key-file", &good, "--admin-key", " root "]).config().unwrap();
    assert_eq!(config.http.api_key.as_ref().map(Secret::expose), Some("file-key"));
    assert_eq!(config.http.admin_key.as_ref().map(Secret::expose), Some("root"));
    assert!(args(&[]).config().unwrap().http.api_key.is_none());
}

#[test]
fn an_embedding_with_an_empty_key_is_refused_too() {
    let http = HttpConfig { api_key: Some("".into()), ..HttpConfig::default() };
    assert!(matches!(http.validate(), Err(ConfigError::EmptyKey { .. })));
    let http = HttpConfig { admin_key: Some(" ".into()), ..HttpConfig::default() };
    assert!(matches!(http.validate(), Err(ConfigError::EmptyKey { .. })));
    assert!(HttpConfig { api_key: Some("k".into()), ..HttpConfig::default() }.validate().is_ok());
}

#[test]
fn the_bind_address_is_loopback_unless_given_whatever_the_keys() {
    assert_eq!(args(&[]).bind_host(), "127.0.0.1");
    assert_eq!(args(&["--api-key", "k"]).bind_host(), "127.0.0.1");
    assert_eq!(args(&["--admin-key", "k"]).bind_host(), "127.0.0.1");
    assert_eq!(args(&["--api-key", "k", "--host", "0.0.0.0"]).bind_host(), "0.0.0.0");

    for host in ["0.0.0.0", "::", "192.168.1.5", "example.com"] {
        let warning = ServeArgs::exposure_warning(host, false).unwrap_or_else(|| panic!("{host}: no warning"));
        assert!(warning.contains(host) && warning.contains("--api-key"), "{warning}");
        assert_eq!(ServeArgs::exposure_warning(host, true), None, "{host} with keys");
    }
    for host in ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"] {
        assert_eq!(ServeArgs::exposure_warning(host, false), None, "{host}");
    }
}

#[test]
fn debug_output_hides_keys_and_the_redis_password() {
    let flags = [
        "--api-key",
        "sekret-api",
        "--admin-key",
        "sekret-admin",
        "--redis-url",
        "redis://cache:sekret-redis@127.0.0.1:6379/0",
    ];
    let args = args(&flags);
    let config = args.config().unwrap();
    assert_eq!(config.http.api_key.as_ref().map(Secret::expose), Some("sekret-api"));
    assert_eq!(config.cache.redis.as_ref().map(|r| r.url.as_str()), Some(flags[5]));
    for text in [format!("{args:?}"), format!("{args:#?}"), format!("{config:?}"), format!("{config:#?}")] {
        assert!(!text.contains("sekret"), "a secret leaks: {text}");
    }
    for text in [format!("{config:?}"), format!("{config:#?}")] {
        assert!(text.contains("redis://cache:***@127.0.0.1:6379/0"), "the URL is shown redacted: {text}");
        assert!(text.contains("capacity_bytes"), "the rest is shown: {text}");
    }
    assert!(!format!("{:?}", config.http).contains("sekret"));
}

#[test]
fn redis_tls_and_password_file_flags_reach_the_tier_config() {
    let flags = [
        "--redis-url",
        "rediss+cluster://10.0.0.1:7000,10.0.0.2:7000",
        "--redis-password-file",
        "/run/secrets/redis-password",
        "--redis-ca-cert",
        "/run/secrets/ca.pem",
        "--redis-client-cert",
        "/run/secrets/client.pem",
        "--redis-client-key",
        "/run/secrets/client.key",
    ];
    let redis = args(&flags).config().unwrap().cache.redis.unwrap();
    assert_eq!(redis.url, flags[1]);
    assert_eq!(redis.password_file.as_deref(), Some(std::path::Path::new(flags[3])));
    assert_eq!(redis.tls.ca_cert.as_deref(), Some(std::path::Path::new(flags[5])));
    assert_eq!(redis.tls.client_cert.as_deref(), Some(std::path::Path::new(flags[7])));
    assert_eq!(redis.tls.client_key.as_deref(), Some(std::path::Path::new(flags[9])));
    // A client certificate without its key (or the reverse) is refused by the parser.
    let half = ["serve", "--redis-url", "rediss://h:1", "--redis-client-cert", "c.pem"];
    assert!(Cli::try_parse_from(half).is_err());
}
