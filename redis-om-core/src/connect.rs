//! Connecting: `REDIS_OM_URL`, or an explicit URL.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncConnectionConfig;

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

/// A `redis::Client` for `url`.
///
/// # Errors
/// [`Error::Config`] when the URL does not parse (the message never repeats the URL,
/// which may hold a password).
pub fn client_for(url: &str) -> Result<redis::Client> {
    install_crypto_provider();
    redis::Client::open(url).map_err(|err| {
        Error::Config(format!(
            "the Redis URL is not valid ({}): expected redis://[user][:password@]host[:port][/db]",
            err.kind_description()
        ))
    })
}

/// A `redis::Client` for [`url()`].
///
/// # Errors
/// See [`client_for`].
pub fn client() -> Result<redis::Client> {
    client_for(&url())
}

/// An auto-reconnecting async connection to [`url()`]: clone it freely, all
/// clones share one multiplexed connection.
///
/// ```no_run
/// # async fn run() -> redis_om::Result<()> {
/// let mut con = redis_om::connect().await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::Config`] for a bad URL, [`Error::Redis`] when the server cannot be reached.
pub async fn connect() -> Result<ConnectionManager> {
    connect_to(&url()).await
}

/// How long [`connect`] and [`connect_to`] wait for a connection to open.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// How long [`connect`] and [`connect_to`] wait for the answer to a command
/// before the call fails with [`Error::Timeout`].
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// The settings of [`connect`] and [`connect_to`], to start your own from:
/// each connection attempt times out after [`CONNECTION_TIMEOUT`], each
/// command after [`RESPONSE_TIMEOUT`], and a lost connection is reopened with
/// one attempt per call, so that while the server is down every call fails
/// within about those timeouts (redis-rs's own default retries 6 times with
/// backoff, about 9.5 s per call). A call that finds the connection refused
/// (nothing was sent) is tried once more on a fresh connection, so the first
/// call after the server returns succeeds.
///
/// A read cache in front of a database, which must fall back quickly:
///
/// ```no_run
/// use std::time::Duration;
/// # async fn run() -> redis_om::Result<()> {
/// let config = redis_om::manager_config()
///     .set_connection_timeout(Some(Duration::from_millis(200)))
///     .set_response_timeout(Some(Duration::from_millis(100)));
/// let mut con = redis_om::connect_with(&redis_om::url(), config).await?;
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

/// Like [`connect`], to an explicit URL, with [`manager_config`].
///
/// # Errors
/// See [`connect`].
pub async fn connect_to(url: &str) -> Result<ConnectionManager> {
    connect_with(url, manager_config()).await
}

/// Like [`connect_to`], with reconnection and timeout settings (start from
/// [`manager_config`]: `ConnectionManagerConfig::new()` has redis-rs's
/// defaults, which retry for about 9.5 s).
///
/// # Errors
/// See [`connect`].
pub async fn connect_with(url: &str, config: ConnectionManagerConfig) -> Result<ConnectionManager> {
    connect_client(client_for(url)?, config).await
}

/// Like [`connect_with`], from a `redis::Client` you built, for example with
/// your own TLS root certificate (`redis::Client::build_with_tls`, feature
/// `tls-rustls` or `tls-rustls-aws-lc`).
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
/// let mut con = redis_om::connect_client(client, redis_om::manager_config()).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// See [`connect`].
pub async fn connect_client(
    client: redis::Client,
    config: ConnectionManagerConfig,
) -> Result<ConnectionManager> {
    install_crypto_provider();
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
fn install_crypto_provider() {
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
fn refused(err: redis::RedisError) -> Error {
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

/// How long a blocking connection from [`connect_sync`] waits for an answer
/// before the call fails with [`Error::Timeout`] (change it with
/// `con.set_read_timeout`).
pub const SYNC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A blocking connection to [`url()`], with [`SYNC_TIMEOUT`] on reads and
/// writes so that a server that stops answering cannot block forever; checked
/// with a `PING`, so that a missing password fails here.
///
/// # Errors
/// See [`connect`].
pub fn connect_sync() -> Result<redis::Connection> {
    connect_sync_to(&url())
}

/// Like [`connect_sync`], to an explicit URL.
///
/// # Errors
/// See [`connect`].
pub fn connect_sync_to(url: &str) -> Result<redis::Connection> {
    let mut con = client_for(url)?.get_connection_with_timeout(SYNC_TIMEOUT)?;
    con.set_read_timeout(Some(SYNC_TIMEOUT))?;
    con.set_write_timeout(Some(SYNC_TIMEOUT))?;
    // As `connect`: a server that requires a password fails here, not at the first command.
    redis::cmd("PING").query::<()>(&mut con).map_err(refused)?;
    Ok(con)
}

trait KindDescription {
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

    #[test]
    fn bad_url_error_does_not_leak_the_password() {
        let err = client_for("redis//:hunter2@host:notaport").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("not valid"), "{text}");
    }
}
