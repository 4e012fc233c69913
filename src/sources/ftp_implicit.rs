//! Implicit FTPS with the partner's timeout from the first byte, through suppaftp's public API.
//!
//! suppaftp 6.3's `connect_secure_implicit` opens its own socket with `TcpStream::connect` (no
//! connect timeout) and runs the TLS handshake and reads the greeting on it before the caller
//! can set a read timeout, and it takes no caller-made stream. A server that accepts TCP and
//! never answers would block the thread for ever; the poller's outer deadline only abandons
//! such a thread, it cannot end it.
//!
//! So edigate connects to the server itself (the caller: `connect_timeout`, read and write
//! timeouts) and relays that socket through a loopback listener: suppaftp connects to
//! `127.0.0.1:<ephemeral>` while the TLS server name stays the partner's host, so the
//! certificate is still verified against the real server and the relay only sees ciphertext.
//!
//! - Until suppaftp has the greeting, a read from the server that times out (or any error or
//!   end of stream) shuts both sockets down, so the handshake fails with an error. After that,
//!   suppaftp's own loopback socket gets the timeout (as in the other TLS modes) and silence on
//!   the control connection is normal (during a long transfer), so the relay keeps waiting.
//! - The listener accepts one connection, within the timeout, and is then closed: a connection
//!   left in its queue is reset, so suppaftp never waits on one the relay does not serve. The
//!   accepted connection must be the one suppaftp opened (its local address), checked before
//!   the session is used (before the login).
//! - Both relay threads end when either side closes or fails; dropping [`Relay`] shuts the
//!   server socket down and joins them, so no thread outlives the session (or a failed connect).
//! - Data connections are not relayed: PASV replies carry the server's address (EPSV and the
//!   NAT workaround would take the control socket's peer, the relay: neither is used), and
//!   suppaftp does not pass the control socket's timeouts on to them, so the caller's passive
//!   stream builder connects them with the timeout and sets it before their TLS handshake.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use suppaftp::{FtpError, RustlsConnector, RustlsFtpStream};

#[derive(Default)]
struct Shared {
    /// suppaftp has the greeting and its own socket timeouts: server silence is no longer fatal.
    established: AtomicBool,
    /// The relay is being dropped: stop waiting for a connection.
    stop: AtomicBool,
    /// The peer address of the one accepted loopback connection.
    accepted: OnceLock<SocketAddr>,
}

/// The relay threads of one implicit FTPS control connection; keep it as long as the session.
pub(super) struct Relay {
    server: TcpStream,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.server.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Implicit FTPS over `server`, already connected with `timeout` as its read and write
/// timeouts. The returned stream's socket has them too.
pub(super) fn connect(
    server: TcpStream,
    timeout: Duration,
    tls: RustlsConnector,
    domain: &str,
) -> Result<(RustlsFtpStream, Relay), FtpError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(FtpError::ConnectionError)?;
    let local = listener.local_addr().map_err(FtpError::ConnectionError)?;
    let shared = Arc::new(Shared::default());
    let (server_ref, state) = (
        server.try_clone().map_err(FtpError::ConnectionError)?,
        Arc::clone(&shared),
    );
    let thread = std::thread::Builder::new()
        .name("ftps-relay".into())
        .spawn(move || relay(listener, server, timeout, &state))
        .map_err(FtpError::ConnectionError)?;
    // Declared before the stream: on an error return the stream is dropped first.
    let relay = Relay {
        server: server_ref,
        shared,
        thread: Some(thread),
    };
    let stream = RustlsFtpStream::connect_secure_implicit(local, tls, domain)?;
    let ours = stream
        .get_ref()
        .local_addr()
        .map_err(FtpError::ConnectionError)?;
    if relay.shared.accepted.get() != Some(&ours) {
        return Err(FtpError::ConnectionError(std::io::Error::other(
            "the loopback relay served a connection that was not edigate's",
        )));
    }
    let s = stream.get_ref();
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(FtpError::ConnectionError)?;
    relay.shared.established.store(true, Ordering::Release);
    Ok((stream, relay))
}

/// Accepts the one connection within `timeout`, then copies bytes both ways until either side
/// ends.
fn relay(listener: TcpListener, server: TcpStream, timeout: Duration, shared: &Shared) {
    let client = accept_one(listener, timeout, shared);
    let pair = client.and_then(|(c, peer)| {
        let _ = shared.accepted.set(peer);
        Some((c.try_clone().ok()?, server.try_clone().ok()?, c))
    });
    let Some((c_up, s_up, client)) = pair else {
        let _ = server.shutdown(Shutdown::Both);
        return;
    };
    // A read from suppaftp never times out (no timeout on the relay's end): it ends when
    // suppaftp closes its socket or the other direction shuts this one down.
    let up = std::thread::Builder::new()
        .name("ftps-relay-up".into())
        .spawn(move || pump(&c_up, &s_up, || true));
    if up.is_err() {
        let _ = server.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    pump(&server, &client, || {
        !shared.established.load(Ordering::Acquire)
    });
    if let Ok(t) = up {
        let _ = t.join();
    }
}

/// The first connection to `listener` within `timeout`; the listener is closed on return.
fn accept_one(
    listener: TcpListener,
    timeout: Duration,
    shared: &Shared,
) -> Option<(TcpStream, SocketAddr)> {
    listener.set_nonblocking(true).ok()?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((s, peer)) => return s.set_nonblocking(false).ok().map(|()| (s, peer)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline || shared.stop.load(Ordering::Acquire) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Copies `from` to `to` until either ends or fails (a read timeout ends it while
/// `stall_ends()`), then shuts both down, which ends the other direction too.
fn pump(mut from: &TcpStream, mut to: &TcpStream, stall_ends: impl Fn() -> bool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                    && !stall_ends() => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls() -> RustlsConnector {
        let roots = rustls::RootCertStore::empty();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        RustlsConnector::from(Arc::new(config))
    }

    /// A server that accepts and never answers: the handshake fails within the timeout, and
    /// when `connect` returns the relay threads have ended (the error path joins them).
    #[test]
    fn a_silent_server_fails_the_handshake_and_the_relay_ends() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let timeout = Duration::from_millis(300);
        let server = TcpStream::connect_timeout(&addr, timeout).expect("connect");
        server.set_read_timeout(Some(timeout)).expect("timeout");
        server.set_write_timeout(Some(timeout)).expect("timeout");
        let (held, _) = listener.accept().expect("accept");
        let start = Instant::now();
        let err = connect(server, timeout, tls(), "localhost")
            .err()
            .expect("stalled");
        assert!(start.elapsed() < timeout * 3, "took {:?}", start.elapsed());
        assert!(
            matches!(err, FtpError::SecureError(_) | FtpError::ConnectionError(_)),
            "{err}"
        );
        // The relay shut its server socket down: the stalled server sees the end of stream.
        held.set_read_timeout(Some(timeout)).expect("timeout");
        let mut rest = Vec::new();
        (&held).read_to_end(&mut rest).expect("end of stream");
        assert!(
            rest.starts_with(&[0x16]),
            "the ClientHello went through: {rest:?}"
        );
    }

    /// A server that closes at once: the handshake fails at once.
    #[test]
    fn a_closed_connection_fails_the_handshake() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let timeout = Duration::from_secs(5);
        let server = TcpStream::connect_timeout(&addr, timeout).expect("connect");
        server.set_read_timeout(Some(timeout)).expect("timeout");
        drop(listener.accept().expect("accept"));
        let start = Instant::now();
        assert!(connect(server, timeout, tls(), "localhost").is_err());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
    }
}
