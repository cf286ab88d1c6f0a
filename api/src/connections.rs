//! Connections: a cap on how many are served at once, and timeouts for the ones that hold a
//! slot without asking anything.
//!
//! - A connection past `REEMPLOI_MAX_CONNECTIONS` is closed as soon as it is accepted: the
//!   client sees a reset and retries, rather than waiting behind a queue it cannot see.
//! - Once a client has sent the first byte of a request, it has `REEMPLOI_HEADER_TIMEOUT_SECS`
//!   to send the whole head (a connection trickling its headers is closed).
//! - A connection with no request in flight (opened and silent, or kept alive after an answer)
//!   is closed after `REEMPLOI_IDLE_TIMEOUT_SECS`.
//! - While a request is in flight, the connection is never timed out here: a handler may take
//!   long, and a body that stalls is the limits middleware's 408.
//!
//! The acceptor and the request edge meet through a registry keyed by the peer's address and
//! port, which names one TCP connection at a time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The state of one connection, shared by its IO and the requests it carries.
#[derive(Debug)]
pub struct ConnState {
    /// Requests being answered on it.
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` when it last had no request in flight.
    idle_since: AtomicU64,
    /// Milliseconds since `epoch` when the first byte of a request not yet in flight came, plus
    /// one (0: none).
    head_since: AtomicU64,
}

/// The connections open, by peer address.
#[derive(Debug)]
pub struct Registry {
    epoch: Instant,
    open: Mutex<HashMap<SocketAddr, Arc<ConnState>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            open: Mutex::default(),
        }
    }
}

impl Registry {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// Marks a request of the connection from `peer` as in flight until the guard drops.
    pub fn request(self: &Arc<Self>, peer: Option<SocketAddr>) -> Option<InFlight> {
        let peer = peer?;
        let state = self.open.lock().ok()?.get(&peer).cloned()?;
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        state.head_since.store(0, Ordering::Release);
        Some(InFlight {
            state,
            registry: self.clone(),
        })
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.open.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A request in flight; dropping it returns the connection to idle when it was the last.
pub struct InFlight {
    state: Arc<ConnState>,
    registry: Arc<Registry>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.state.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.state
                .idle_since
                .store(self.registry.now_ms(), Ordering::Release);
        }
    }
}

/// The limits applied to connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// An acceptor that applies [`ConnLimits`] to the connections of another.
pub struct Guarded<A> {
    inner: A,
    limits: ConnLimits,
    permits: Arc<Semaphore>,
    registry: Arc<Registry>,
}

impl<A> Guarded<A> {
    pub fn new(inner: A, limits: ConnLimits, registry: Arc<Registry>) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            registry,
        }
    }
}

impl<A: Acceptor> Acceptor for Guarded<A> {
    type Io = GuardedIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> std::io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        loop {
            let (io, local, remote, scheme) = self.inner.accept().await?;
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                tracing::warn!(
                    remote_addr = %remote,
                    max = self.limits.max_connections,
                    "connection refused: too many open connections"
                );
                drop(io);
                continue;
            };
            let state = Arc::new(ConnState {
                in_flight: AtomicUsize::new(0),
                idle_since: AtomicU64::new(self.registry.now_ms()),
                head_since: AtomicU64::new(0),
            });
            let peer = remote.as_socket_addr().copied();
            if let Some(peer) = peer
                && let Ok(mut open) = self.registry.open.lock()
            {
                open.insert(peer, state.clone());
            }
            let io = GuardedIo {
                inner: io,
                state,
                peer,
                limits: self.limits,
                registry: self.registry.clone(),
                timer: Box::pin(tokio::time::sleep(self.limits.idle_timeout)),
                _permit: permit,
            };
            return Ok((io, local, remote, scheme));
        }
    }
}

/// A connection's IO under [`ConnLimits`].
pub struct GuardedIo<T> {
    inner: T,
    state: Arc<ConnState>,
    peer: Option<SocketAddr>,
    limits: ConnLimits,
    registry: Arc<Registry>,
    timer: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl<T> Drop for GuardedIo<T> {
    fn drop(&mut self) {
        if let Some(peer) = self.peer
            && let Ok(mut open) = self.registry.open.lock()
        {
            // Only this connection's entry: the port may already serve a new one.
            if open.get(&peer).is_some_and(|s| Arc::ptr_eq(s, &self.state)) {
                open.remove(&peer);
            }
        }
    }
}

impl<T> GuardedIo<T> {
    /// When the connection is to be closed if nothing happens, `None` while a request is in
    /// flight.
    fn deadline(&self) -> Option<Instant> {
        if self.state.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.state.head_since.load(Ordering::Acquire) {
            0 => Some(
                self.registry
                    .at(self.state.idle_since.load(Ordering::Acquire))
                    + self.limits.idle_timeout,
            ),
            since => Some(self.registry.at(since - 1) + self.limits.header_timeout),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before
                    && this.state.in_flight.load(Ordering::Acquire) == 0
                    && this.state.head_since.load(Ordering::Acquire) == 0
                {
                    this.state
                        .head_since
                        .store(this.registry.now_ms() + 1, Ordering::Release);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.deadline() else {
                    return Poll::Pending;
                };
                this.timer.as_mut().reset(deadline);
                if this.timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connection closed: no complete request in time",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
