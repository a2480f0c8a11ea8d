//! Connecting: [`url()`] (`REDIS_OM_URL`) or any other target, with timeouts
//! that let a read cache fall back quickly when Redis is away.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, IntoConnectionInfo};

use crate::error::{Error, Result};

/// The environment variable that holds the server URL.
pub const URL_ENV: &str = "REDIS_OM_URL";

/// The URL used when `REDIS_OM_URL` is not set.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// The server URL: `REDIS_OM_URL`, or [`DEFAULT_URL`].
///
/// Any URL redis-rs understands works: `redis://:password@host:port/db`,
/// `redis://user:password@host` (ACL), `rediss://` (feature `tls-rustls` or `tls-rustls-aws-lc`),
/// `?protocol=resp3`, `redis+unix:///path`.
pub fn url() -> String {
    std::env::var(URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// A `redis::Client` for `target`, with the rustls provider installed.
///
/// # Errors
/// [`Error::Config`] when the URL does not parse (the message never repeats the URL,
/// which may hold a password).
pub(crate) fn client(target: impl IntoConnectionInfo) -> Result<redis::Client> {
    install_crypto_provider();
    let info = target.into_connection_info().map_err(|err| {
        #[cfg(not(any(feature = "tls-rustls", feature = "tls-rustls-aws-lc")))]
        if err.to_string().contains("TLS") || err.to_string().contains("tls") {
            return Error::Config(
                "a rediss:// (TLS) URL needs the feature `tls-rustls` or `tls-rustls-aws-lc` \
                 of redis-om-rs"
                    .to_owned(),
            );
        }
        Error::Config(format!(
            "the Redis URL is not valid ({}): expected redis://[user][:password@]host[:port][/db]",
            err.kind_description()
        ))
    })?;
    Ok(redis::Client::open(info)?)
}

/// An auto-reconnecting async connection to `target`: a URL (`&str`,
/// `String`, [`url()`]) or a `redis::ConnectionInfo`. Clone it freely: all
/// clones share one multiplexed connection. It uses [`manager_config`]: calls
/// fail within about [`RESPONSE_TIMEOUT`] while the server is unreachable.
///
/// ```no_run
/// # async fn run() -> redis_om::Result<()> {
/// let mut con = redis_om::connect(redis_om::url()).await?; // REDIS_OM_URL, or redis://127.0.0.1:6379
/// # Ok(()) }
/// ```
///
/// With your own TLS root certificate (feature `tls-rustls` or
/// `tls-rustls-aws-lc`), connect to the connection info of a client built with it:
///
/// ```no_run
/// # #[cfg(any(feature = "tls-rustls", feature = "tls-rustls-aws-lc"))]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use redis_om::redis;
///
/// let ca_pem = std::fs::read("ca.crt")?;
/// let client = redis::Client::build_with_tls(
///     "rediss://cache.internal:6380",
///     redis::TlsCertificates { client_tls: None, root_cert: Some(ca_pem) },
/// )?;
/// let mut con = redis_om::connect(client.get_connection_info().clone()).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::Config`] for a bad URL or a missing password, [`Error::Redis`]
/// when the server cannot be reached.
pub async fn connect(target: impl IntoConnectionInfo) -> Result<ConnectionManager> {
    connect_with(target, manager_config()).await
}

/// How long [`connect`] waits for a connection to open.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// How long [`connect`] waits for the answer to a command
/// before the call fails with [`Error::Timeout`].
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a cluster connection ([`crate::connect_cluster`]) waits for the
/// answer to a command: [`RESPONSE_TIMEOUT`] four times over, since one
/// answer may take a redirect and a read of the slot map first.
pub const CLUSTER_RESPONSE_TIMEOUT: Duration = Duration::from_millis(2000);

/// The settings of [`connect`], to start your own from (with [`connect_with`]):
/// each connection attempt times out after [`CONNECTION_TIMEOUT`], each
/// command after [`RESPONSE_TIMEOUT`], and a lost connection is reopened with
/// one attempt per call, so that while the server is down every call fails
/// within about those timeouts (redis-rs's own default retries 6 times with
/// backoff, about 9.5 s per call). A call that finds the connection refused
/// at once (nothing was sent) is tried once more on a fresh connection, so
/// the first call after the server returns succeeds; that is the one retry of
/// redis-om (a connection that retried by itself is not retried again).
///
/// A read cache in front of a database, which must fall back quickly:
///
/// ```no_run
/// use std::time::Duration;
/// # async fn run() -> redis_om::Result<()> {
/// let config = redis_om::manager_config()
///     .set_connection_timeout(Some(Duration::from_millis(200)))
///     .set_response_timeout(Some(Duration::from_millis(100)));
/// let mut con = redis_om::connect_with(redis_om::url(), config).await?;
/// # Ok(()) }
/// ```
///
/// A worker that would rather wait for a restarting server than fail:
/// `manager_config().set_number_of_retries(6)` (each call then waits up to
/// about 9.5 s for the server).
pub fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(0)
}

/// Like [`connect`], with reconnection and timeout settings (start from
/// [`manager_config`]: `ConnectionManagerConfig::new()` has redis-rs's
/// defaults, which retry for about 9.5 s).
///
/// # Errors
/// See [`connect`].
pub async fn connect_with(
    target: impl IntoConnectionInfo,
    config: ConnectionManagerConfig,
) -> Result<ConnectionManager> {
    let client = client(target)?;
    // The manager retries its first connection with backoff, which is right for
    // a server that is restarting but makes a wrong password or ACL user wait
    // seconds for its error: one plain attempt first fails fast on those. The
    // PING checks what a connection without AUTH does not: a server that
    // requires a password answers NOAUTH.
    let check = AsyncConnectionConfig::new()
        .set_connection_timeout(config.connection_timeout())
        .set_response_timeout(config.response_timeout());
    match client
        .get_multiplexed_async_connection_with_config(&check)
        .await
    {
        Ok(mut con) => {
            if let Err(err) = redis::cmd("PING").query_async::<()>(&mut con).await {
                if !is_transient(&err) {
                    return Err(refused(err));
                }
            }
        }
        Err(err) if !is_transient(&err) => return Err(refused(err)),
        Err(_) => {}
    }
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

/// Makes `rediss://` work without the application choosing a rustls crypto
/// provider: unless the application installed a process default already,
/// installs the one of the enabled feature (`aws-lc-rs` when both
/// `tls-rustls-aws-lc` and `tls-rustls` are on). rustls picks one by itself
/// only when exactly one provider is compiled in, which another dependency
/// enabling the other one would silently break.
pub(crate) fn install_crypto_provider() {
    #[cfg(any(feature = "tls-rustls", feature = "tls-rustls-aws-lc"))]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        #[cfg(feature = "tls-rustls-aws-lc")]
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        #[cfg(not(feature = "tls-rustls-aws-lc"))]
        let provider = rustls::crypto::ring::default_provider();
        // Err: another thread installed one in the meantime, which is as good.
        let _ = provider.install_default();
    }
}

/// The error of a connection the server refused: `NOAUTH` says how to fix it.
pub(crate) fn refused(err: redis::RedisError) -> Error {
    if err.code() == Some("NOAUTH") {
        return Error::Config(
            "the Redis server requires a password (NOAUTH): put it in the URL, \
             redis://:password@host:port or redis://user:password@host:port"
                .to_owned(),
        );
    }
    Error::from_redis(err)
}

/// Whether a failed first connection is worth retrying: a server that is down
/// or restarting is; a refused password, ACL user or TLS certificate is not.
fn is_transient(err: &redis::RedisError) -> bool {
    let network = err.is_io_error() || err.is_timeout() || err.is_connection_dropped();
    // TLS failures surface as I/O errors; a bad certificate will not get better.
    network && !err.to_string().to_ascii_lowercase().contains("certificate")
}

pub(crate) trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for redis::RedisError {
    fn kind_description(&self) -> String {
        // The error's category only: its detail could quote the URL.
        format!("{:?}", self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(any(feature = "tls-rustls", feature = "tls-rustls-aws-lc")))]
    #[test]
    fn a_tls_url_without_a_tls_feature_names_the_features() {
        let err = client("rediss://127.0.0.1:6380").unwrap_err();
        assert!(err.to_string().contains("tls-rustls"), "{err}");
    }

    #[test]
    fn bad_url_error_does_not_leak_the_password() {
        let err = client("redis//:hunter2@host:notaport").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("not valid"), "{text}");
    }
}
