//! A loopback TCP relay that watches what crosses it.
//!
//! Put between a client and a real server, it forwards bytes both ways
//! unchanged and records, with the time each was written to the client's
//! socket, every chunk that came from the server, and when the client
//! closed its side. Tests use it to see a dropped reply close its
//! connection; the LLM benchmark uses the write times as "the last byte of
//! a token arrived on the socket".

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A chunk of the server's response as the relay passed it on.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// Which accepted connection (0, 1, …).
    pub connection: usize,
    /// When the relay finished writing it to the client's socket.
    pub written_at: Instant,
    /// The bytes.
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct Log {
    chunks: Vec<Chunk>,
    client_closed: Vec<(usize, Instant)>,
}

/// A running relay; it stops accepting when dropped.
#[derive(Debug)]
pub struct Relay {
    port: u16,
    log: Arc<Mutex<Log>>,
    accepted: Arc<AtomicUsize>,
}

impl Relay {
    /// Relays a free loopback port to `target_port` on loopback.
    ///
    /// # Panics
    /// If no port can be bound.
    #[must_use]
    pub fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap_or_else(|e| panic!("relay: bind: {e}"));
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("relay: {e}"));
        let log = Arc::new(Mutex::new(Log::default()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (thread_log, thread_accepted) = (Arc::clone(&log), Arc::clone(&accepted));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let id = thread_accepted.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target_port)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let log = Arc::clone(&thread_log);
                std::thread::spawn(move || pump(id, client, server, &log));
            }
        });
        Self { port, log, accepted }
    }

    /// The relay's port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Everything the server sent so far.
    #[must_use]
    pub fn chunks(&self) -> Vec<Chunk> {
        self.log.lock().map(|l| l.chunks.clone()).unwrap_or_default()
    }

    /// Forgets the chunks recorded so far.
    pub fn clear(&self) {
        if let Ok(mut log) = self.log.lock() {
            log.chunks.clear();
        }
    }

    /// Waits up to `within` for the client to close connection `id`;
    /// returns when it did.
    #[must_use]
    pub fn client_closed(&self, id: usize, within: Duration) -> Option<Instant> {
        let deadline = Instant::now() + within;
        loop {
            let closed = self
                .log
                .lock()
                .ok()
                .and_then(|l| l.client_closed.iter().find(|(c, _)| *c == id).map(|(_, at)| *at));
            if closed.is_some() || Instant::now() > deadline {
                return closed;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn pump(id: usize, mut client: TcpStream, mut server: TcpStream, log: &Arc<Mutex<Log>>) {
    // Client → server on a second thread; it records the client's close.
    let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up_log = Arc::clone(log);
    std::thread::spawn(move || {
        let mut buf = [0_u8; 16 * 1024];
        loop {
            match client_in.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if server_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        if let Ok(mut log) = up_log.lock() {
            log.client_closed.push((id, Instant::now()));
        }
        let _ = server_out.shutdown(Shutdown::Both);
    });
    let mut buf = [0_u8; 64 * 1024];
    loop {
        match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if client.write_all(&buf[..n]).is_err() {
                    break;
                }
                let written_at = Instant::now();
                if let Ok(mut log) = log.lock() {
                    log.chunks.push(Chunk {
                        connection: id,
                        written_at,
                        bytes: buf[..n].to_vec(),
                    });
                }
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}
