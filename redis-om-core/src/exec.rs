//! Multi-step flows (the migrator, paging through results) are written once as
//! async code over [`Exec`]; the sync API runs the same code on a blocking
//! connection, where every step completes at its first poll.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use redis::{aio, Cmd, ConnectionLike, Pipeline, RedisResult, Value};

/// Runs commands on a connection, async or blocking.
pub(crate) trait Exec {
    fn query(&mut self, cmd: &Cmd) -> impl Future<Output = RedisResult<Value>> + Send;
    fn query_pipe(
        &mut self,
        pipe: &Pipeline,
    ) -> impl Future<Output = RedisResult<Vec<Value>>> + Send;
    fn sleep(&mut self, pause: Duration) -> impl Future<Output = ()> + Send;
}

pub(crate) struct AsyncExec<'c, C>(pub(crate) &'c mut C);

/// The one retry of redis-om: a call whose connection was refused at once
/// (nothing was sent, and a `ConnectionManager` has started a new connection
/// to a server that may be back) is sent once more. A refusal that took
/// longer than this came from a connection that already retried with its
/// own backoff (`ConnectionManagerConfig::set_number_of_retries`): sending
/// again would wait out that whole backoff a second time. (On a link whose
/// round trip is longer than this, a refusal is not retried either.)
const RETRY_REFUSED_WITHIN: Duration = Duration::from_millis(100);

pub(crate) fn retry_refused(err: &redis::RedisError, started: std::time::Instant) -> bool {
    err.is_connection_refusal() && started.elapsed() < RETRY_REFUSED_WITHIN
}

impl<C: aio::ConnectionLike + Send> Exec for AsyncExec<'_, C> {
    async fn query(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        let started = std::time::Instant::now();
        match cmd.query_async(self.0).await {
            Err(err) if retry_refused(&err, started) => cmd.query_async(self.0).await,
            other => other,
        }
    }
    async fn query_pipe(&mut self, pipe: &Pipeline) -> RedisResult<Vec<Value>> {
        let started = std::time::Instant::now();
        match pipe.query_async(self.0).await {
            Err(err) if retry_refused(&err, started) => pipe.query_async(self.0).await,
            other => other,
        }
    }
    async fn sleep(&mut self, pause: Duration) {
        tokio::time::sleep(pause).await;
    }
}

pub(crate) struct SyncExec<'c, C>(pub(crate) &'c mut C);

impl<C: ConnectionLike> Exec for SyncExec<'_, C> {
    fn query(&mut self, cmd: &Cmd) -> impl Future<Output = RedisResult<Value>> + Send {
        std::future::ready(cmd.query(self.0))
    }
    fn query_pipe(
        &mut self,
        pipe: &Pipeline,
    ) -> impl Future<Output = RedisResult<Vec<Value>>> + Send {
        std::future::ready(pipe.query(self.0))
    }
    fn sleep(&mut self, pause: Duration) -> impl Future<Output = ()> + Send {
        std::thread::sleep(pause);
        std::future::ready(())
    }
}

/// Drives a future built on [`SyncExec`] to completion. Such a future never
/// waits on anything, so it is ready at its first poll. A future that is not
/// would wait for a wake-up that never comes (an async step slipped into a
/// blocking flow): that is a bug in redis-om, reported loudly instead of
/// spinning a core forever.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!(
            "redis-om bug: a blocking call awaited something that is not ready; please report it"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_flow_completes_at_its_first_poll() {
        assert_eq!(block_on(async { 1 + std::future::ready(2).await }), 3);
    }

    #[test]
    #[should_panic(expected = "redis-om bug")]
    fn a_flow_that_would_wait_fails_loudly() {
        block_on(std::future::pending::<()>());
    }
}
