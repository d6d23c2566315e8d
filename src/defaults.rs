//! Every default value, once: the CLI flags, the runtime structs' `Default` impls and
//! the README refer to these.

/// `--host`: loopback only, with keys or without.
pub const HOST: &str = "127.0.0.1";
/// `--port`.
pub const PORT: u16 = 8080;
/// The model used when neither the manifest nor `--default` names one.
pub const DEFAULT_MODEL: &str = "sentiment";
/// `--cache-max-bytes`: the memory tier's bound, bytes (256 MiB).
pub const CACHE_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// `--cache-disk-max-bytes`: the disk tier's bound, bytes (1 GiB).
pub const CACHE_DISK_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// `--redis-namespace`: the prefix of every Redis key.
pub const REDIS_NAMESPACE: &str = "sentiserve";
/// `--redis-connect-timeout-ms`, ms.
pub const REDIS_CONNECT_TIMEOUT_MS: u64 = 250;
/// `--redis-timeout-ms`: the most one Redis command may add to a request, ms.
pub const REDIS_TIMEOUT_MS: u64 = 50;
/// `--max-body-bytes`: largest request body, bytes (2 MiB).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// `--max-texts`: most texts in one request.
pub const MAX_TEXTS: usize = 1024;
/// `--max-batch-size`: most texts in one forward pass.
pub const MAX_BATCH_SIZE: usize = 32;
/// `--max-batch-tokens`: most padded tokens in one forward pass.
pub const MAX_BATCH_TOKENS: usize = 8192;
/// `--batch-wait-us`: how long a batch waits for more texts, µs.
pub const BATCH_WAIT_US: u64 = 0;
/// `--queue-capacity`: most texts queued per model.
pub const QUEUE_CAPACITY: usize = 4096;
/// `--header-read-timeout-ms`: most time a client may take to send a request's headers, ms.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// `--body-read-timeout-ms`: most time a client may take to send a request's body, ms.
pub const BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// `--max-connections`: most open client connections; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// `--max-header-bytes`: largest request head (request line and headers), bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// `--shutdown-grace-secs`: how long a shutdown waits for open requests, s.
pub const SHUTDOWN_GRACE_SECS: u64 = 30;
/// `--request-timeout-ms`: a request's deadline, ms (0: none).
pub const REQUEST_TIMEOUT_MS: u64 = 0;
