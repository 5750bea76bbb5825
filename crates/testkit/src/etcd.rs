//! Throwaway etcd servers and clusters on loopback for tests.
//!
//! Shaped like the PostgreSQL fixture:
//!
//! - [`Etcd::for_test`] (or [`Etcd::for_current_test`]) hands a test the endpoints of one
//!   single-member etcd shared by every test of the process and a key prefix unique to the test.
//!   `QUORATE_ETCD_ENDPOINTS` (comma-separated URLs) uses an existing cluster instead; otherwise
//!   the first call starts `etcd` (from `QUORATE_ETCD_BIN`, then `PATH`, then `/usr/bin/etcd`) on
//!   free loopback ports with its data in a fresh temporary directory, and waits until `/health`
//!   answers.
//! - [`EtcdCluster::start`] starts a private multi-member cluster on loopback (for tests that kill
//!   members); it is stopped and its directory removed when the handle drops.
//! - When no server can be had, the test fails if `CI` or `QUORATE_ETCD_REQUIRED` is set (to
//!   anything but empty, `0` or `false`) and is skipped otherwise, printing `skipped <test>:
//!   <reason>` to the real stderr.
//! - Servers are stopped at normal process exit (`atexit`) and, when the test process is killed,
//!   by a watchdog `sh` process that waits on a pipe only the test process holds, then sends
//!   `SIGKILL` to the servers and removes their directory.
//!
//! Servers run with a 50 ms heartbeat and a 250 ms election timeout, so a new leader is elected
//! within about half a second of a leader's death and leases may be as short as one second.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

/// Comma-separated client URLs of an existing etcd cluster to use instead of a throwaway one.
pub const ETCD_ENDPOINTS_ENV: &str = "QUORATE_ETCD_ENDPOINTS";
/// When set (not empty, `0` or `false`), a test that cannot get etcd fails instead of skipping.
pub const ETCD_REQUIRED_ENV: &str = "QUORATE_ETCD_REQUIRED";
/// Path of the `etcd` binary to run.
pub const ETCD_BIN_ENV: &str = "QUORATE_ETCD_BIN";

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Why no etcd server could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdUnavailable {
    /// No `etcd` binary was found.
    #[error(
        "no etcd binary (set {ETCD_BIN_ENV}, put etcd on PATH, or install Debian's etcd-server)"
    )]
    NoBinary,
    /// A step of the start failed.
    #[error("could not {step}: {source}")]
    Io {
        /// The step.
        step: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The server did not become healthy in time.
    #[error("etcd did not become healthy within {timeout:?}: {detail}")]
    NotHealthy {
        /// How long we waited.
        timeout: Duration,
        /// What the last check saw, with the tail of the server's log.
        detail: String,
    },
    /// An earlier start in this process failed.
    #[error("an earlier etcd start failed: {0}")]
    Earlier(String),
}

fn io_err(step: &'static str) -> impl FnOnce(std::io::Error) -> EtcdUnavailable {
    move |source| EtcdUnavailable::Io { step, source }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn etcd_required() -> bool {
    let set = |var: &str| {
        std::env::var(var).is_ok_and(|v| {
            let v = v.trim();
            !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
        })
    };
    set("CI") || set(ETCD_REQUIRED_ENV)
}

fn find_binary() -> Result<PathBuf, EtcdUnavailable> {
    if let Some(p) = std::env::var_os(ETCD_BIN_ENV) {
        return Ok(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("etcd"))
        .chain([PathBuf::from("/usr/bin/etcd")]);
    for candidate in on_path {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(EtcdUnavailable::NoBinary)
}

/// `GET /health` on a client URL: whether the member reports itself healthy.
fn healthy(port: u16) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    if body.contains("\"health\":\"true\"") {
        Ok(())
    } else {
        Err(format!(
            "health answer: {}",
            body.lines().last().unwrap_or("")
        ))
    }
}

static CLUSTER_COUNTER: AtomicU64 = AtomicU64::new(0);

struct Member {
    name: String,
    client_port: u16,
    child: Option<Child>,
    log: PathBuf,
}

/// A set of etcd processes with their directory and watchdog.
struct Processes {
    root: PathBuf,
    members: Vec<Member>,
    watchdog: Option<(Child, ChildStdin)>,
}

impl Processes {
    fn start(n: usize, root: PathBuf, tune: bool) -> Result<Self, EtcdUnavailable> {
        let bin = find_binary()?;
        let id = CLUSTER_COUNTER.fetch_add(1, Ordering::Relaxed);
        let token = format!("quorate-{}-{id}", std::process::id());
        let mut ports = Vec::with_capacity(n);
        // Hold the listeners until every port is chosen so two members never get the same one.
        let mut held = Vec::new();
        for _ in 0..n {
            let c = TcpListener::bind("127.0.0.1:0").map_err(io_err("pick a free port"))?;
            let p = TcpListener::bind("127.0.0.1:0").map_err(io_err("pick a free port"))?;
            let (cp, pp) = (
                c.local_addr().map_err(io_err("pick a free port"))?.port(),
                p.local_addr().map_err(io_err("pick a free port"))?.port(),
            );
            held.push((c, p));
            ports.push((cp, pp));
        }
        drop(held);
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, pp))| format!("m{i}=http://127.0.0.1:{pp}"))
            .collect();
        let initial = initial.join(",");
        let mut procs = Self {
            root: root.clone(),
            members: Vec::with_capacity(n),
            watchdog: None,
        };
        for (i, (cp, pp)) in ports.iter().enumerate() {
            let name = format!("m{i}");
            let log = root.join(format!("{name}.log"));
            let log_file = std::fs::File::create(&log).map_err(io_err("create the etcd log"))?;
            let log_err = log_file
                .try_clone()
                .map_err(io_err("create the etcd log"))?;
            let mut cmd = Command::new(&bin);
            cmd.arg("--name")
                .arg(&name)
                .arg("--data-dir")
                .arg(root.join(&name))
                .arg(format!("--listen-client-urls=http://127.0.0.1:{cp}"))
                .arg(format!("--advertise-client-urls=http://127.0.0.1:{cp}"))
                .arg(format!("--listen-peer-urls=http://127.0.0.1:{pp}"))
                .arg(format!(
                    "--initial-advertise-peer-urls=http://127.0.0.1:{pp}"
                ))
                .arg(format!("--initial-cluster={initial}"))
                .arg("--initial-cluster-state=new")
                .arg(format!("--initial-cluster-token={token}"))
                .arg("--logger=zap")
                .arg("--log-level=warn");
            if tune {
                cmd.arg("--heartbeat-interval=50")
                    .arg("--election-timeout=250");
            }
            cmd.stdin(Stdio::null())
                .stdout(log_file)
                .stderr(log_err)
                // Its own process group: Ctrl-C on the test run reaches the watchdog's cleanup
                // rather than racing it.
                .process_group(0);
            let child = cmd.spawn().map_err(io_err("start etcd"))?;
            procs.members.push(Member {
                name,
                client_port: *cp,
                child: Some(child),
                log,
            });
        }
        procs.spawn_watchdog()?;
        procs.wait_healthy()?;
        Ok(procs)
    }

    fn spawn_watchdog(&mut self) -> Result<(), EtcdUnavailable> {
        const SCRIPT: &str = r#"read -r _ignored
dir="$1"; shift
for pid in "$@"; do kill -9 "$pid" 2>/dev/null; done
sleep 0.2
rm -rf "$dir""#;
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", SCRIPT, "quorate-etcd-watchdog"])
            .arg(&self.root);
        for m in &self.members {
            if let Some(c) = &m.child {
                cmd.arg(c.id().to_string());
            }
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(io_err("start the watchdog"))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io_err("start the watchdog")(std::io::Error::other("no stdin pipe")))?;
        self.watchdog = Some((child, stdin));
        Ok(())
    }

    fn wait_healthy(&mut self) -> Result<(), EtcdUnavailable> {
        let deadline = Instant::now() + START_TIMEOUT;
        for i in 0..self.members.len() {
            loop {
                let m = &mut self.members[i];
                let last = match healthy(m.client_port) {
                    Ok(()) => break,
                    Err(e) => e,
                };
                let exited = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                if exited.is_some() || Instant::now() >= deadline {
                    let log = std::fs::read_to_string(&m.log).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    return Err(EtcdUnavailable::NotHealthy {
                        timeout: START_TIMEOUT,
                        detail: format!(
                            "{} ({}): {last}; log: {}",
                            m.name,
                            exited.map_or("running".to_owned(), |s| s.to_string()),
                            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        Ok(())
    }

    fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect()
    }

    fn kill(&mut self, i: usize) -> std::io::Result<()> {
        let m = self
            .members
            .get_mut(i)
            .ok_or_else(|| std::io::Error::other(format!("no member {i}")))?;
        if let Some(mut c) = m.child.take() {
            c.kill()?; // SIGKILL
            c.wait()?;
        }
        Ok(())
    }

    fn shutdown(&mut self) {
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let Some((mut child, stdin)) = self.watchdog.take() {
            drop(stdin);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn temp_root(label: &str) -> Result<PathBuf, EtcdUnavailable> {
    let id = CLUSTER_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let root = std::env::temp_dir().join(format!(
        "quorate-etcd-{label}-{}-{id}-{nanos:08x}",
        std::process::id()
    ));
    std::fs::create_dir_all(&root).map_err(io_err("create the etcd directory"))?;
    Ok(root)
}

// ---------------------------------------------------------------------------------------------
// The shared single-member server.

enum Shared {
    Idle,
    Running(Vec<String>, Option<PathBuf>),
    Failed(String),
}

static SHARED: Mutex<Shared> = Mutex::new(Shared::Idle);
static SHARED_PROCESSES: Mutex<Option<Processes>> = Mutex::new(None);
static TEST_COUNTER: AtomicU64 = AtomicU64::new(0);

extern "C" fn shutdown_at_exit() {
    let procs = match SHARED_PROCESSES.try_lock() {
        Ok(mut g) => g.take(),
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().take(),
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    if let Some(mut p) = procs {
        p.shutdown();
    }
}

#[allow(unsafe_code)]
fn register_atexit() {
    // SAFETY: `shutdown_at_exit` is an `extern "C" fn()` without arguments, as `atexit` requires;
    // it does not unwind (it only `try_lock`s, kills and waits on children and removes files,
    // ignoring every error) and touches only statics that live for the whole process.
    let _ = unsafe { libc::atexit(shutdown_at_exit) };
}

fn shared_endpoints() -> Result<(Vec<String>, Option<PathBuf>), EtcdUnavailable> {
    let mut state = lock(&SHARED);
    match &*state {
        Shared::Running(e, root) => return Ok((e.clone(), root.clone())),
        Shared::Failed(why) => return Err(EtcdUnavailable::Earlier(why.clone())),
        Shared::Idle => {}
    }
    if let Ok(list) = std::env::var(ETCD_ENDPOINTS_ENV) {
        let endpoints: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if !endpoints.is_empty() {
            *state = Shared::Running(endpoints.clone(), None);
            return Ok((endpoints, None));
        }
    }
    let started = temp_root("shared").and_then(|root| Processes::start(1, root, true));
    match started {
        Ok(procs) => {
            let endpoints = procs.endpoints();
            let root = procs.root.clone();
            *lock(&SHARED_PROCESSES) = Some(procs);
            register_atexit();
            *state = Shared::Running(endpoints.clone(), Some(root.clone()));
            Ok((endpoints, Some(root)))
        }
        Err(e) => {
            *state = Shared::Failed(e.to_string());
            Err(e)
        }
    }
}

/// A test's view of the shared etcd: its endpoints and a key prefix unique to the test.
///
/// ```no_run
/// let Some(etcd) = quorate_testkit::etcd::Etcd::for_current_test() else { return };
/// assert!(!etcd.endpoints().is_empty());
/// assert!(etcd.prefix().starts_with("/quorate-test/"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Etcd {
    endpoints: Vec<String>,
    prefix: String,
    root: Option<PathBuf>,
}

impl Etcd {
    /// The shared server (started on first use) or `QUORATE_ETCD_ENDPOINTS`, with a fresh prefix.
    ///
    /// # Errors
    ///
    /// [`EtcdUnavailable`] when no server can be had.
    ///
    /// ```no_run
    /// let etcd = quorate_testkit::etcd::Etcd::create()?;
    /// # Ok::<(), quorate_testkit::etcd::EtcdUnavailable>(())
    /// ```
    pub fn create() -> Result<Self, EtcdUnavailable> {
        Self::create_named("test")
    }

    fn create_named(label: &str) -> Result<Self, EtcdUnavailable> {
        let (endpoints, root) = shared_endpoints()?;
        let n = TEST_COUNTER.fetch_add(1, Ordering::Relaxed);
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Ok(Self {
            endpoints,
            root,
            prefix: format!(
                "/quorate-test/{label}/{}-{n}-{nanos:08x}/",
                std::process::id()
            ),
        })
    }

    /// [`create`](Self::create) for the test `test`, or `None` (printed) when the test must be
    /// skipped.
    ///
    /// # Panics
    ///
    /// When no server can be had and `CI` or `QUORATE_ETCD_REQUIRED` is set.
    ///
    /// ```no_run
    /// let Some(etcd) = quorate_testkit::etcd::Etcd::for_test("my_test") else { return };
    /// # drop(etcd);
    /// ```
    pub fn for_test(test: &str) -> Option<Self> {
        match Self::create_named(test) {
            Ok(e) => Some(e),
            Err(e) => skip_or_fail(test, &e),
        }
    }

    /// [`for_test`](Self::for_test) with the current test's name.
    ///
    /// # Panics
    ///
    /// As [`for_test`](Self::for_test).
    ///
    /// ```no_run
    /// let Some(etcd) = quorate_testkit::etcd::Etcd::for_current_test() else { return };
    /// # drop(etcd);
    /// ```
    pub fn for_current_test() -> Option<Self> {
        let t = std::thread::current();
        Self::for_test(t.name().unwrap_or("unnamed test"))
    }

    /// The client URLs.
    ///
    /// ```no_run
    /// # let etcd = quorate_testkit::etcd::Etcd::create().unwrap();
    /// let first = &etcd.endpoints()[0];
    /// assert!(first.starts_with("http://"));
    /// ```
    #[must_use]
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The throwaway server's directory (data and log), `None` for `QUORATE_ETCD_ENDPOINTS`.
    ///
    /// ```no_run
    /// # let etcd = quorate_testkit::etcd::Etcd::create().unwrap();
    /// if let Some(root) = etcd.data_root() { assert!(root.exists()); }
    /// ```
    #[must_use]
    pub fn data_root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// A key prefix unique to this handle (ends with `/`).
    ///
    /// ```no_run
    /// # let etcd = quorate_testkit::etcd::Etcd::create().unwrap();
    /// assert!(etcd.prefix().ends_with('/'));
    /// ```
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

fn skip_or_fail<T>(test: &str, e: &EtcdUnavailable) -> Option<T> {
    if etcd_required() {
        panic!(
            "{test} needs etcd and CI or {ETCD_REQUIRED_ENV} is set, so it cannot be skipped: {e}"
        );
    }
    let _ = writeln!(std::io::stderr(), "skipped {test}: {e}");
    None
}

/// A private etcd cluster on loopback, stopped (and its directory removed) on drop.
///
/// ```no_run
/// use quorate_testkit::etcd::EtcdCluster;
/// let Some(mut cluster) = EtcdCluster::for_current_test(3) else { return };
/// assert_eq!(cluster.endpoints().len(), 3);
/// cluster.kill(0).unwrap(); // SIGKILL
/// assert_eq!(cluster.endpoints().len(), 2);
/// ```
pub struct EtcdCluster {
    procs: Processes,
}

impl EtcdCluster {
    /// Starts `members` members and waits until each reports healthy.
    ///
    /// # Errors
    ///
    /// [`EtcdUnavailable`] when the binary is missing or a member does not become healthy.
    ///
    /// ```no_run
    /// let cluster = quorate_testkit::etcd::EtcdCluster::start(3)?;
    /// # Ok::<(), quorate_testkit::etcd::EtcdUnavailable>(())
    /// ```
    pub fn start(members: usize) -> Result<Self, EtcdUnavailable> {
        let root = temp_root("cluster")?;
        match Processes::start(members.max(1), root.clone(), true) {
            Ok(procs) => Ok(Self { procs }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&root);
                Err(e)
            }
        }
    }

    /// [`start`](Self::start) for the current test, or `None` (printed) when it must be skipped.
    ///
    /// # Panics
    ///
    /// When the cluster cannot start and `CI` or `QUORATE_ETCD_REQUIRED` is set.
    ///
    /// ```no_run
    /// let Some(cluster) = quorate_testkit::etcd::EtcdCluster::for_current_test(3) else { return };
    /// # drop(cluster);
    /// ```
    pub fn for_current_test(members: usize) -> Option<Self> {
        let t = std::thread::current();
        let name = t.name().unwrap_or("unnamed test");
        match Self::start(members) {
            Ok(c) => Some(c),
            Err(e) => skip_or_fail(name, &e),
        }
    }

    /// Client URLs of the members still running.
    ///
    /// ```no_run
    /// # let cluster = quorate_testkit::etcd::EtcdCluster::start(1).unwrap();
    /// assert_eq!(cluster.endpoints().len(), 1);
    /// ```
    #[must_use]
    pub fn endpoints(&self) -> Vec<String> {
        self.procs.endpoints()
    }

    /// Client URL of member `i` (running or not).
    ///
    /// ```no_run
    /// # let cluster = quorate_testkit::etcd::EtcdCluster::start(1).unwrap();
    /// assert!(cluster.member_endpoint(0).is_some());
    /// ```
    #[must_use]
    pub fn member_endpoint(&self, i: usize) -> Option<String> {
        self.procs
            .members
            .get(i)
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
    }

    /// The number of members started.
    ///
    /// ```no_run
    /// # let cluster = quorate_testkit::etcd::EtcdCluster::start(3).unwrap();
    /// assert_eq!(cluster.len(), 3);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.procs.members.len()
    }

    /// Whether the cluster has no members (never, once started).
    ///
    /// ```no_run
    /// # let cluster = quorate_testkit::etcd::EtcdCluster::start(1).unwrap();
    /// assert!(!cluster.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.procs.members.is_empty()
    }

    /// Kills member `i` with `SIGKILL` and reaps it.
    ///
    /// # Errors
    ///
    /// When there is no member `i` or the signal or wait fails.
    ///
    /// ```no_run
    /// # let mut cluster = quorate_testkit::etcd::EtcdCluster::start(3).unwrap();
    /// cluster.kill(1)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill(&mut self, i: usize) -> std::io::Result<()> {
        self.procs.kill(i)
    }

    /// The process id of member `i`, while it runs.
    ///
    /// ```no_run
    /// # let cluster = quorate_testkit::etcd::EtcdCluster::start(1).unwrap();
    /// assert!(cluster.member_pid(0).is_some());
    /// ```
    #[must_use]
    pub fn member_pid(&self, i: usize) -> Option<u32> {
        self.procs.members.get(i)?.child.as_ref().map(Child::id)
    }

    /// The directory holding the members' data and logs.
    ///
    /// ```no_run
    /// # let cluster = quorate_testkit::etcd::EtcdCluster::start(1).unwrap();
    /// assert!(cluster.root().exists());
    /// ```
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.procs.root
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        self.procs.shutdown();
    }
}

impl fmt::Debug for EtcdCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdCluster")
            .field("root", &self.procs.root)
            .field("endpoints", &self.endpoints())
            .finish()
    }
}
