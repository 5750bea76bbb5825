//! A throwaway NATS server with JetStream on a loopback port, or `QUORATE_NATS_URL`.
//!
//! [`NatsServer::for_test`] (or [`NatsServer::for_current_test`]) gives each test its own
//! `nats-server -js` listening on `127.0.0.1:<free port>` with its JetStream store in a
//! temporary directory. A test can [`stop`](NatsServer::stop) and
//! [`restart`](NatsServer::restart) it on the same port with the same store (a broker restart
//! mid-run). The server is killed and its directory removed when the handle is dropped; if the
//! test process dies without unwinding, a watchdog process (blocked reading a pipe only the test
//! process holds) kills it.
//!
//! `QUORATE_NATS_URL` names an existing server instead (stop/restart then fail). When no server
//! can be had, the test is skipped with a printed line, or fails when `CI` or
//! `QUORATE_NATS_REQUIRED` is set. The binary comes from `QUORATE_NATS_BIN`, then `PATH`, then
//! `/usr/sbin/nats-server` and `/usr/bin/nats-server` (Debian's package; as root:
//! `apt-get install nats-server`).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut server = quorate_testkit::nats::NatsServer::start()?;
//! println!("connect to {}", server.url());
//! server.restart()?;
//! # Ok(())
//! # }
//! ```

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

/// Environment variable naming an existing server (`nats://host:port`) to use instead.
pub const NATS_URL_ENV: &str = "QUORATE_NATS_URL";

/// Environment variable that, like `CI`, makes a missing server a failure instead of a skip.
pub const NATS_REQUIRED_ENV: &str = "QUORATE_NATS_REQUIRED";

/// Environment variable naming the `nats-server` binary.
pub const NATS_BIN_ENV: &str = "QUORATE_NATS_BIN";

/// Why no NATS server could be had.
///
/// ```
/// let e = quorate_testkit::nats::NatsUnavailable::BinaryNotFound { searched: vec![] };
/// assert!(e.to_string().contains("apt-get install nats-server"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NatsUnavailable {
    /// No `nats-server` binary was found.
    #[error(
        "nats-server not found (searched {searched:?}): install it (Debian, as root: apt-get install \
         nats-server), set QUORATE_NATS_BIN, or set QUORATE_NATS_URL to an existing server"
    )]
    BinaryNotFound {
        /// Where it was looked for.
        searched: Vec<PathBuf>,
    },
    /// Starting or reaching the server failed.
    #[error("could not {step}: {detail}")]
    Start {
        /// What was being done.
        step: &'static str,
        /// The error.
        detail: String,
    },
    /// Stop or restart was asked of an external server.
    #[error("the server at QUORATE_NATS_URL is external: it cannot be stopped or restarted")]
    External,
}

fn start_error(step: &'static str) -> impl FnOnce(std::io::Error) -> NatsUnavailable {
    move |e| NatsUnavailable::Start {
        step,
        detail: e.to_string(),
    }
}

/// A NATS server for one test.
#[derive(Debug)]
pub struct NatsServer {
    url: String,
    throwaway: Option<Throwaway>,
}

#[derive(Debug)]
struct Throwaway {
    bin: PathBuf,
    port: u16,
    dir: TempDir,
    server: Option<Child>,
    watchdog: Option<Child>,
}

fn required() -> bool {
    let set = |var: &str| {
        std::env::var(var).is_ok_and(|v| {
            let v = v.trim();
            !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
        })
    };
    set("CI") || set(NATS_REQUIRED_ENV)
}

fn find_binary() -> Result<PathBuf, NatsUnavailable> {
    let mut searched = Vec::new();
    if let Some(bin) = std::env::var_os(NATS_BIN_ENV) {
        let bin = PathBuf::from(bin);
        if bin.is_file() {
            return Ok(bin);
        }
        searched.push(bin);
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in path_dirs
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
    {
        let candidate = dir.join("nats-server");
        if candidate.is_file() {
            return Ok(candidate);
        }
        searched.push(candidate);
    }
    Err(NatsUnavailable::BinaryNotFound { searched })
}

fn free_port() -> Result<u16, NatsUnavailable> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(start_error("find a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(start_error("find a free port"))?
        .port())
}

impl NatsServer {
    /// `QUORATE_NATS_URL`, or a fresh throwaway server.
    ///
    /// # Errors
    ///
    /// [`NatsUnavailable`] when the binary is missing or the server does not come up.
    pub fn start() -> Result<Self, NatsUnavailable> {
        if let Ok(url) = std::env::var(NATS_URL_ENV)
            && !url.trim().is_empty()
        {
            return Ok(Self {
                url: url.trim().to_owned(),
                throwaway: None,
            });
        }
        let bin = find_binary()?;
        let port = free_port()?;
        let dir =
            TempDir::new("quorate-nats").map_err(start_error("create the store directory"))?;
        let mut t = Throwaway {
            bin,
            port,
            dir,
            server: None,
            watchdog: None,
        };
        t.spawn()?;
        Ok(Self {
            url: format!("nats://127.0.0.1:{port}"),
            throwaway: Some(t),
        })
    }

    /// A server for `test`, or `None` (after printing why) when it must be skipped.
    ///
    /// # Panics
    ///
    /// When no server can be had and `CI` or `QUORATE_NATS_REQUIRED` is set.
    #[must_use]
    pub fn for_test(test: &str) -> Option<Self> {
        match Self::start() {
            Ok(s) => Some(s),
            Err(e) if required() => panic!("{test}: no NATS server: {e}"),
            Err(e) => {
                eprintln!("skipped {test}: {e}");
                None
            }
        }
    }

    /// [`NatsServer::for_test`] named after the current test thread.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::for_test`].
    #[must_use]
    pub fn for_current_test() -> Option<Self> {
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed test")
            .to_owned();
        Self::for_test(&name)
    }

    /// The client URL (`nats://127.0.0.1:<port>`).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The JetStream store directory of a throwaway server.
    #[must_use]
    pub fn store_dir(&self) -> Option<&Path> {
        self.throwaway.as_ref().map(|t| t.dir.path())
    }

    /// Kills the server (as a crash would); its port and store stay reserved for
    /// [`restart`](Self::restart).
    ///
    /// # Errors
    ///
    /// [`NatsUnavailable::External`] for a `QUORATE_NATS_URL` server.
    pub fn stop(&mut self) -> Result<(), NatsUnavailable> {
        let t = self.throwaway.as_mut().ok_or(NatsUnavailable::External)?;
        t.kill();
        Ok(())
    }

    /// Stops the server if it runs and starts it again on the same port with the same store.
    ///
    /// # Errors
    ///
    /// [`NatsUnavailable::External`] for an external server; [`NatsUnavailable::Start`] when it
    /// does not come back.
    pub fn restart(&mut self) -> Result<(), NatsUnavailable> {
        let t = self.throwaway.as_mut().ok_or(NatsUnavailable::External)?;
        t.kill();
        t.spawn()
    }
}

impl Throwaway {
    fn spawn(&mut self) -> Result<(), NatsUnavailable> {
        let store = self.dir.path().join("jetstream");
        let log = self.dir.path().join("server.log");
        let mut server = Command::new(&self.bin)
            .args(["-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-js")
            .arg("-sd")
            .arg(&store)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(start_error("start nats-server"))?;
        let watchdog = spawn_watchdog(server.id(), self.dir.path());
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        // Restarting on the same port can race the old socket's release; retry for a while.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = server.try_wait() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if Instant::now() < deadline && text.contains("address already in use") {
                    std::thread::sleep(Duration::from_millis(100));
                    server = Command::new(&self.bin)
                        .args(["-a", "127.0.0.1", "-p"])
                        .arg(self.port.to_string())
                        .arg("-js")
                        .arg("-sd")
                        .arg(&store)
                        .arg("-l")
                        .arg(&log)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .map_err(start_error("start nats-server"))?;
                    continue;
                }
                return Err(NatsUnavailable::Start {
                    step: "start nats-server",
                    detail: format!("exited with {status}; log:\n{text}"),
                });
            }
            if ready(addr) {
                break;
            }
            if Instant::now() >= deadline {
                let _ = server.kill();
                let _ = server.wait();
                return Err(NatsUnavailable::Start {
                    step: "reach nats-server",
                    detail: format!("not ready on {addr} after 20 s"),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.server = Some(server);
        self.watchdog = watchdog;
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        if let Some(mut w) = self.watchdog.take() {
            // Tell it we handled the server ourselves (the store stays for a restart).
            if let Some(mut stdin) = w.stdin.take() {
                let _ = std::io::Write::write_all(&mut stdin, b"handled\n");
            }
            let _ = w.wait();
        }
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether the server answers with its `INFO` line.
fn ready(addr: SocketAddr) -> bool {
    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("INFO")
}

/// A process that kills `pid` and removes `dir` when the test process dies (its stdin closes).
fn spawn_watchdog(pid: u32, dir: &Path) -> Option<Child> {
    // A line on stdin means "the test process handled it"; end of input means it died.
    const SCRIPT: &str = r#"if read -r _line; then exit 0; fi
kill -9 "$1" 2>/dev/null
rm -rf "$2""#;
    use std::os::unix::process::CommandExt as _;
    Command::new("/bin/sh")
        .args(["-c", SCRIPT, "quorate-nats-watchdog"])
        .arg(pid.to_string())
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .ok()
}
