//! The supervisor task: keeps one connection, connecting with back-off while there is
//! none and pinging while there is, and marks the tier up or down.

use std::sync::Arc;

use super::link::Connector;
use super::{Shared, MIN_PING_TIMEOUT, PING_INTERVAL};

/// Keeps a connection: connects with backoff while there is none, pings while there is.
/// A Sentinel connection that fails its ping is dropped, so the next attempt asks the
/// Sentinels where the master is now.
pub(super) async fn supervise(shared: Arc<Shared>, connector: Connector) {
    loop {
        let existing = shared.connection.read().unwrap_or_else(|p| p.into_inner()).clone();
        let outcome: Result<(), String> = match existing {
            None => {
                let attempt =
                    tokio::time::timeout(shared.config.connect_timeout * 2, connector.connect(&shared.config)).await;
                match attempt {
                    // Up only once the generations are known, so the first reads
                    // already use them.
                    Ok(Ok(mut connection)) => shared.sync_generations(&mut connection).await.map(|()| {
                        *shared.connection.write().unwrap_or_else(|p| p.into_inner()) = Some(connection);
                    }),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("connect timed out".into()),
                }
            }
            Some(mut connection) => {
                let ping =
                    tokio::time::timeout(shared.config.command_timeout.max(MIN_PING_TIMEOUT), connection.ping()).await;
                let outcome = match ping {
                    Ok(Ok(())) => {
                        if let Err(e) = shared.sync_generations(&mut connection).await {
                            tracing::debug!(error = %e, "reading the cache generations failed");
                        }
                        Ok(())
                    }
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err("ping timed out".into()),
                };
                if outcome.is_err() && connection.reconnect_on_failure() {
                    *shared.connection.write().unwrap_or_else(|p| p.into_inner()) = None;
                }
                outcome
            }
        };
        let pause = match outcome {
            Ok(()) => {
                shared.health.mark_up();
                PING_INTERVAL
            }
            Err(reason) => {
                shared.health.mark_down(reason);
                let pause = shared.health.retry_delay();
                shared.health.retry_failed();
                pause
            }
        };
        tokio::time::sleep(pause).await;
    }
}
