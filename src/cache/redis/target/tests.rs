use std::io::Write;
use std::time::Duration;

use redis::ConnectionAddr;

use super::{Target, Topology};
use crate::cache::config::{RedisConfig, RedisTls};
use crate::cache::redis::RedisTierError;

fn config(url: &str) -> RedisConfig {
    RedisConfig {
        url: url.into(),
        namespace: "sentiserve".into(),
        connect_timeout: Duration::from_millis(100),
        command_timeout: Duration::from_millis(100),
        tls: RedisTls::default(),
        password_file: None,
    }
}

fn addr(target: &Target, i: usize) -> (String, u16, bool) {
    match target.nodes[i].addr() {
        ConnectionAddr::Tcp(host, port) => (host.clone(), *port, false),
        ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port, true),
        other => panic!("unexpected address {other:?}"),
    }
}

fn error(config: &RedisConfig) -> String {
    match Target::parse(config) {
        Ok(_) => panic!("{} parsed", config.url),
        Err(e) => e.to_string(),
    }
}

#[test]
fn standalone_urls_parse_as_the_client_reads_them() {
    let target = Target::parse(&config("redis://user:p%40ss@cache.internal:6380/2")).unwrap();
    assert_eq!(target.topology, Topology::Standalone);
    assert_eq!(addr(&target, 0), ("cache.internal".into(), 6380, false));
    let settings = target.nodes[0].redis_settings();
    assert_eq!((settings.username(), settings.password(), settings.db()), (Some("user"), Some("p@ss"), 2));
    let tls = Target::parse(&config("rediss://cache.internal:6380")).unwrap();
    assert!(tls.tls && addr(&tls, 0).2, "rediss connects over TLS");
}

#[test]
fn cluster_urls_list_every_seed_node_with_the_same_credentials() {
    let target = Target::parse(&config("rediss+cluster://:secret@10.0.0.1:7000,10.0.0.2,[::1]:7002")).unwrap();
    assert_eq!(target.topology, Topology::Cluster);
    assert_eq!(target.nodes.len(), 3);
    assert_eq!(addr(&target, 0), ("10.0.0.1".into(), 7000, true));
    assert_eq!(addr(&target, 1), ("10.0.0.2".into(), 6379, true), "the default port");
    assert_eq!(addr(&target, 2), ("::1".into(), 7002, true));
    assert!(target.nodes.iter().all(|n| n.redis_settings().password() == Some("secret")));
    assert!(error(&config("redis+cluster://h:1/3")).contains("database 0 only"));
}

#[test]
fn sentinel_urls_name_the_sentinels_the_master_and_its_database() {
    let target = Target::parse(&config("redis+sentinel://u:pw@s1:26380,s2/mymaster/4")).unwrap();
    assert_eq!(target.topology, Topology::Sentinel { master: "mymaster".into() });
    assert_eq!(target.sentinels, [("s1".to_string(), 26380), ("s2".to_string(), 26379)]);
    let settings = target.nodes[0].redis_settings();
    assert_eq!((settings.username(), settings.password(), settings.db()), (Some("u"), Some("pw"), 4));
    assert!(!target.tls);
    assert!(Target::parse(&config("rediss+sentinel://s1:26379/m")).unwrap().tls);
    assert!(error(&config("redis+sentinel://s1:26379")).contains("no master name"));
    assert!(error(&config("redis+sentinel://s1:26379/m/x")).contains("not a number"));
}

#[test]
fn unknown_schemes_and_bad_hosts_are_refused_without_the_password() {
    for url in ["redis+shard://h:1", "http://h:1", "no-scheme", "redis+cluster://:hunter2@h:port"] {
        let message = error(&config(url));
        assert!(message.contains("invalid redis url"), "{url}: {message}");
        assert!(!message.contains("hunter2"), "the password leaked: {message}");
    }
}

#[test]
fn the_password_file_gives_the_password_and_an_empty_one_is_refused() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "s3cret with spaces").unwrap();
    let mut with_file = config("redis+cluster://app@h1:7000,h2:7001");
    with_file.password_file = Some(file.path().into());
    let target = Target::parse(&with_file).unwrap();
    for node in &target.nodes {
        assert_eq!(node.redis_settings().password(), Some("s3cret with spaces"));
        assert_eq!(node.redis_settings().username(), Some("app"));
    }

    let empty = tempfile::NamedTempFile::new().unwrap();
    let mut with_empty = config("redis://h:1");
    with_empty.password_file = Some(empty.path().into());
    assert!(matches!(Target::parse(&with_empty), Err(RedisTierError::Password(_))), "an empty file is no password");

    let mut both = config("redis://:inline@h:1");
    both.password_file = Some(file.path().into());
    let message = error(&both);
    assert!(message.contains("another") && !message.contains("s3cret") && !message.contains("inline"), "{message}");

    let mut missing = config("redis://h:1");
    missing.password_file = Some("/nonexistent/redis-password".into());
    assert!(error(&missing).contains("--redis-password-file"));
}

#[test]
fn certificates_need_a_tls_url_and_are_read_from_their_files() {
    let mut ca = tempfile::NamedTempFile::new().unwrap();
    ca.write_all(b"-----BEGIN CERTIFICATE-----\n").unwrap();
    let mut plain = config("redis://h:1");
    plain.tls.ca_cert = Some(ca.path().into());
    assert!(matches!(Target::parse(&plain), Err(RedisTierError::TlsNeedsRediss)));

    let mut tls = config("rediss://h:1");
    tls.tls.ca_cert = Some(ca.path().into());
    let certs = Target::parse(&tls).unwrap().certs.expect("the CA is read");
    assert_eq!(certs.root_cert.as_deref(), Some(&b"-----BEGIN CERTIFICATE-----\n"[..]));
    assert!(certs.client_tls.is_none());

    tls.tls.client_cert = Some(ca.path().into());
    assert!(matches!(Target::parse(&tls), Err(RedisTierError::TlsFiles(_))), "a certificate without its key");
}
