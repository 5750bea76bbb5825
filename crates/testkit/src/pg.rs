//! A PostgreSQL server for tests: `QUORATE_PG_URL`, or a throwaway cluster started on demand.
//! The lifecycle (lazy start, `atexit` plus watchdog shutdown) is described in the crate docs.

use std::collections::hash_map::DefaultHasher;
use std::fs::{File, OpenOptions};
use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::os::unix::fs::{PermissionsExt as _, chown};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::TempDir;

/// Environment variable naming an existing server to use instead of a throwaway one.
///
/// Either a URL (`postgres://user:password@host:port/db`) or a libpq key-value string
/// (`host=/run/postgresql user=postgres dbname=postgres`). The named role must be allowed to
/// `CREATE DATABASE`.
pub const PG_URL_ENV: &str = "QUORATE_PG_URL";

/// Environment variable naming the directory holding `initdb`, `pg_ctl` and `postgres`, checked before
/// `PATH` and `/usr/lib/postgresql/*/bin`.
pub const PG_BINDIR_ENV: &str = "QUORATE_PG_BINDIR";

/// Environment variable that, like `CI`, makes a missing server a test failure instead of a skip.
pub const PG_REQUIRED_ENV: &str = "QUORATE_PG_REQUIRED";

/// The port the throwaway server uses; it only names the socket file inside a private directory.
const THROWAWAY_PORT: u16 = 5432;

/// Unix socket paths are limited to 108 bytes on Linux (including `/.s.PGSQL.5432`).
const MAX_SOCKET_DIR_LEN: usize = 90;

/// Why no PostgreSQL server could be had.
///
/// Returned by [`PgDatabase::create`]; [`PgDatabase::for_test`] turns it into a skip (outside CI)
/// or a panic (when `CI` or [`PG_REQUIRED_ENV`] is set). Every variant's message says what to do.
///
/// # Examples
///
/// ```
/// use quorate_testkit::PgUnavailable;
///
/// let err = PgUnavailable::BinariesNotFound { searched: vec!["/usr/bin".into()] };
/// assert!(err.to_string().contains("apt-get install postgresql"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PgUnavailable {
    /// `QUORATE_PG_URL` is set but is not a connection string.
    #[error("QUORATE_PG_URL is not a valid connection string: {reason}")]
    InvalidUrl {
        /// What the parser rejected.
        reason: String,
    },
    /// No directory holds `initdb`, `pg_ctl` and `postgres`.
    #[error(
        "postgresql server binaries (initdb, pg_ctl, postgres) not found in QUORATE_PG_BINDIR, PATH or \
         /usr/lib/postgresql/*/bin (searched {searched:?}): install them (Debian, as root: \
         apt-get install postgresql) or set QUORATE_PG_URL to an existing server"
    )]
    BinariesNotFound {
        /// The directories that were searched.
        searched: Vec<PathBuf>,
    },
    /// The process is root and there is no `postgres` system user to run the server as.
    #[error(
        "running as root, which postgresql refuses, and there is no `postgres` system user to \
         run it as: create one (useradd --system postgres) or set QUORATE_PG_URL"
    )]
    NoPostgresUser,
    /// Preparing the cluster directory failed.
    #[error("could not {step}: {detail}")]
    Setup {
        /// What was being done.
        step: &'static str,
        /// The underlying error.
        detail: String,
    },
    /// `initdb` or `pg_ctl` failed.
    #[error("`{command}` failed: {detail}")]
    CommandFailed {
        /// The command line that failed.
        command: String,
        /// Exit status and output.
        detail: String,
    },
    /// The server was started or named but does not accept connections.
    #[error("could not connect to postgresql at `{target}`: {detail}")]
    Connect {
        /// The connection string used.
        target: String,
        /// The client's error.
        detail: String,
    },
    /// The server refused to create the test database.
    #[error("could not create database `{name}`: {detail}")]
    CreateDatabase {
        /// The database name.
        name: String,
        /// The server's error.
        detail: String,
    },
}

/// A fresh, empty database on the shared test server, dropped when this handle is dropped.
///
/// Use [`PgDatabase::for_test`] (or the [`pg_test_db!`](crate::pg_test_db) macro) in tests: it
/// applies the skip/fail policy. Use [`PgDatabase::create`] to handle unavailability yourself.
///
/// Connect with [`connect`](Self::connect), or hand [`config`](Self::config) /
/// [`connection_string`](Self::connection_string) to the code under test.
///
/// # Examples
///
/// ```no_run
/// use quorate_testkit::PgDatabase;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = PgDatabase::create()?;
/// let mut client = db.connect()?;
/// client.batch_execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")?;
/// client.execute("INSERT INTO kv VALUES ($1, $2)", &[&"a", &"1"])?;
/// let v: String = client.query_one("SELECT v FROM kv WHERE k = $1", &[&"a"])?.get(0);
/// assert_eq!(v, "1");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    config: postgres::Config,
    connection_string: String,
    server: Arc<Server>,
}

/// How to reach the shared server and build per-database connection strings.
#[derive(Debug)]
struct Server {
    /// Connects to the maintenance database, for `CREATE` / `DROP DATABASE`.
    admin: postgres::Config,
    kind: ServerKind,
}

#[derive(Debug)]
enum ServerKind {
    /// `QUORATE_PG_URL`, as given.
    External { url: String },
    /// The throwaway cluster listening in `socket_dir`.
    Throwaway { socket_dir: PathBuf },
}

enum State {
    Idle,
    Ready(Arc<Server>),
    Failed(PgUnavailable),
}

/// The process-wide server: started once, shared by every test in the process.
static STATE: Mutex<State> = Mutex::new(State::Idle);

/// The running throwaway cluster, taken by the `atexit` handler.
static CLUSTER: Mutex<Option<Cluster>> = Mutex::new(None);

static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PgDatabase {
    /// Creates a fresh database, starting the shared server first if needed.
    ///
    /// Uses `QUORATE_PG_URL` when it is set, otherwise a throwaway cluster (see the
    /// [crate docs](crate#postgresql)). The outcome of starting the server is remembered: after
    /// one failure, later calls fail fast with the same error.
    ///
    /// # Errors
    ///
    /// [`PgUnavailable`] saying why no server could be had, or why the database could not be
    /// created.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), quorate_testkit::PgUnavailable> {
    /// let db = quorate_testkit::PgDatabase::create()?;
    /// assert!(db.name().starts_with("test_"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn create() -> Result<Self, PgUnavailable> {
        Self::create_named("db")
    }

    /// Creates a fresh database for the test `test`, or decides the test cannot run.
    ///
    /// The policy of the workspace: when no server can be had and `CI` (or
    /// `QUORATE_PG_REQUIRED`) is set to anything but empty, `0` or `false`, the test fails;
    /// otherwise it prints `skipped <test>: <reason>` to the real stderr (visible even under the
    /// test harness's output capture) and returns `None`, and the caller returns early. The
    /// test name also goes into the database name, which helps when looking at a live server.
    ///
    /// # Panics
    ///
    /// When no database can be created and `CI` or `QUORATE_PG_REQUIRED` is set, with a message
    /// saying why and what to install or set.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), postgres::Error> {
    /// let Some(db) = quorate_testkit::PgDatabase::for_test("my_store_round_trip") else {
    ///     return Ok(()); // skipped, and said so
    /// };
    /// let mut client = db.connect()?;
    /// client.batch_execute("SELECT 1")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn for_test(test: &str) -> Option<Self> {
        match Self::create_named(test) {
            Ok(db) => Some(db),
            Err(e) if postgres_required() => panic!(
                "{test} needs PostgreSQL and CI or {PG_REQUIRED_ENV} is set, so it cannot be \
                 skipped: {e}"
            ),
            Err(e) => {
                // Write to the real stderr: `eprintln!` would be swallowed by the capture of
                // passing tests, and a skip must be visible.
                let _ = writeln!(std::io::stderr(), "skipped {test}: {e}");
                None
            }
        }
    }

    /// [`for_test`](Self::for_test) with the current test's name (libtest names each test's
    /// thread after the test).
    ///
    /// # Panics
    ///
    /// As [`for_test`](Self::for_test).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let Some(db) = quorate_testkit::PgDatabase::for_current_test() else { return };
    /// # drop(db);
    /// ```
    pub fn for_current_test() -> Option<Self> {
        let thread = std::thread::current();
        Self::for_test(thread.name().unwrap_or("unnamed test"))
    }

    fn create_named(label: &str) -> Result<Self, PgUnavailable> {
        let server = shared_server()?;
        let name = database_name(label);
        let mut admin = connect(&server.admin, &server.describe_admin())?;
        // The name is generated from [a-z0-9_] only, so quoting it is enough.
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .map_err(|e| PgUnavailable::CreateDatabase {
                name: name.clone(),
                detail: error_detail(&e),
            })?;
        let mut config = server.admin.clone();
        config.dbname(&name);
        let connection_string = server.connection_string_for(&name);
        Ok(Self {
            name,
            config,
            connection_string,
            server,
        })
    }

    /// The database's name (`test_<label>_<pid>_<n>_<salt>`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), quorate_testkit::PgUnavailable> {
    /// let db = quorate_testkit::PgDatabase::create()?;
    /// println!("using {}", db.name());
    /// # Ok(())
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A client configuration for this database (user, host or socket directory, port, dbname).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = quorate_testkit::PgDatabase::create()?;
    /// let mut client = db.config().connect(postgres::NoTls)?;
    /// # drop(client);
    /// # Ok(())
    /// # }
    /// ```
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// A connection string for this database, for code that takes one (and for child
    /// processes: pass it to a crash-test child with [`CrashTest::arg`](crate::CrashTest::arg)).
    ///
    /// A libpq key-value string for the throwaway server; for `QUORATE_PG_URL`, the same URL or
    /// key-value string with the database name replaced.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = quorate_testkit::PgDatabase::create()?;
    /// let mut client = postgres::Client::connect(db.connection_string(), postgres::NoTls)?;
    /// # drop(client);
    /// # Ok(())
    /// # }
    /// ```
    pub fn connection_string(&self) -> &str {
        &self.connection_string
    }

    /// Opens a new connection to this database (no TLS).
    ///
    /// # Errors
    ///
    /// The client's error when the server cannot be reached.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = quorate_testkit::PgDatabase::create()?;
    /// let mut client = db.connect()?;
    /// let one: i32 = client.query_one("SELECT 1", &[])?.get(0);
    /// assert_eq!(one, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        self.config.connect(postgres::NoTls)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Best effort: a throwaway cluster is deleted anyway; on an external server a leftover
        // `test_*` database is harmless and visibly named.
        if let Ok(mut admin) = self.server.admin.connect(postgres::NoTls) {
            let forced = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
            if forced.is_err() {
                // Servers older than 13 lack `WITH (FORCE)`.
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\"", self.name));
            }
        }
    }
}

impl Server {
    fn describe_admin(&self) -> String {
        match &self.kind {
            ServerKind::External { url } => redact(url),
            ServerKind::Throwaway { .. } => self.connection_string_for("postgres"),
        }
    }

    fn connection_string_for(&self, dbname: &str) -> String {
        match &self.kind {
            ServerKind::External { url } => with_dbname(url, dbname),
            ServerKind::Throwaway { socket_dir } => format!(
                "host={} port={THROWAWAY_PORT} user=postgres dbname={dbname}",
                socket_dir.display()
            ),
        }
    }
}

/// Whether a missing server is a failure (`CI` or `QUORATE_PG_REQUIRED` set) rather than a skip.
fn postgres_required() -> bool {
    let set = |var: &str| {
        std::env::var(var).is_ok_and(|v| {
            let v = v.trim();
            !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
        })
    };
    set("CI") || set(PG_REQUIRED_ENV)
}

/// The connection string of the server this process uses, when one is already running, so a
/// crash-test child shares it instead of starting its own.
pub(crate) fn running_server_url() -> Option<String> {
    match &*lock(&STATE) {
        State::Ready(server) => Some(server.connection_string_for("postgres")),
        State::Idle | State::Failed(_) => None,
    }
}

fn shared_server() -> Result<Arc<Server>, PgUnavailable> {
    let mut state = lock(&STATE);
    match &*state {
        State::Ready(server) => return Ok(Arc::clone(server)),
        State::Failed(e) => return Err(e.clone()),
        State::Idle => {}
    }
    let started = start_server().map(Arc::new);
    *state = match &started {
        Ok(server) => State::Ready(Arc::clone(server)),
        Err(e) => State::Failed(e.clone()),
    };
    started
}

fn start_server() -> Result<Server, PgUnavailable> {
    match std::env::var(PG_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => external_server(url.trim().to_owned()),
        _ => throwaway_server(),
    }
}

fn external_server(url: String) -> Result<Server, PgUnavailable> {
    let admin = postgres::Config::from_str(&url).map_err(|e| PgUnavailable::InvalidUrl {
        reason: e.to_string(),
    })?;
    let server = Server {
        admin,
        kind: ServerKind::External { url },
    };
    // Fail once, clearly, rather than in every test.
    connect(&server.admin, &server.describe_admin())?;
    Ok(server)
}

fn connect(config: &postgres::Config, target: &str) -> Result<postgres::Client, PgUnavailable> {
    config
        .connect(postgres::NoTls)
        .map_err(|e| PgUnavailable::Connect {
            target: target.to_owned(),
            detail: error_detail(&e),
        })
}

fn error_detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                source = inner.source();
            }
            s
        }
    }
}

/// `test_<label>_<pid>_<n>_<salt>`: unique in this process (counter), across concurrent
/// processes (pid) and, against an external server that may hold leftovers, across runs (salt).
fn database_name(label: &str) -> String {
    let label: String = label
        .rsplit("::")
        .next()
        .unwrap_or(label)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    let n = DB_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = DefaultHasher::new();
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .hash(&mut hasher);
    n.hash(&mut hasher);
    let salt = hasher.finish() & 0xffff;
    format!("test_{label}_{}_{n}_{salt:04x}", std::process::id())
}

/// Replaces (or sets) the database of a URL or key-value connection string.
fn with_dbname(conn: &str, dbname: &str) -> String {
    let Some(scheme_end) = conn.find("://") else {
        // Key-value form: a later key overrides an earlier one.
        return format!("{conn} dbname={dbname}");
    };
    let rest_start = scheme_end + 3;
    let rest = &conn[rest_start..];
    let path_start = rest.find(['/', '?']).map_or(conn.len(), |i| rest_start + i);
    let query_start = conn[path_start..]
        .find('?')
        .map_or(conn.len(), |i| path_start + i);
    format!("{}/{dbname}{}", &conn[..path_start], &conn[query_start..])
}

/// Hides a URL password in error messages.
fn redact(conn: &str) -> String {
    let Some(scheme_end) = conn.find("://") else {
        return conn
            .split_whitespace()
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***"
                } else {
                    kv
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let authority_start = scheme_end + 3;
    let authority_end = conn[authority_start..]
        .find(['/', '?'])
        .map_or(conn.len(), |i| authority_start + i);
    let authority = &conn[authority_start..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &conn[..authority_start],
            &authority[..colon],
            &conn[authority_start + at..]
        ),
        _ => conn.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// The throwaway cluster.

/// A running throwaway cluster and the watchdog that stops it if this process dies.
#[derive(Debug)]
struct Cluster {
    root: PathBuf,
    /// `None` until `postgres` is spawned.
    postmaster: Option<Child>,
    watchdog: Child,
}

impl Cluster {
    /// Closes the watchdog's pipe, which makes it stop the server and delete the directory, and
    /// waits for it.
    fn shutdown(mut self) {
        drop(self.watchdog.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.watchdog.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.watchdog.kill();
                    let _ = self.watchdog.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        // Reap the postmaster (the watchdog's `pg_ctl stop -w` has waited for it to exit); if
        // it is somehow still running, kill it rather than leave it behind.
        if let Some(postmaster) = &mut self.postmaster {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match postmaster.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = postmaster.kill();
                        let _ = postmaster.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        // The watchdog runs as the server's user; as root we can finish what it could not.
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs at normal process exit: stops the throwaway server and removes its directory.
extern "C" fn shutdown_at_exit() {
    // `try_lock`: never block process exit on a thread that died holding the lock; the
    // watchdog still cleans up when the process is gone.
    let cluster = match CLUSTER.try_lock() {
        Ok(mut guard) => guard.take(),
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().take(),
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    if let Some(cluster) = cluster {
        cluster.shutdown();
    }
}

#[allow(unsafe_code)]
fn register_atexit() {
    // SAFETY: `shutdown_at_exit` is an `extern "C" fn()` with no arguments, as `atexit`
    // requires; it does not unwind (it only locks with `try_lock`, waits on a child and removes
    // files, handling every error), and touches only statics that live for the whole process.
    let _ = unsafe { libc::atexit(shutdown_at_exit) };
}

#[allow(unsafe_code)]
fn running_as_root() -> bool {
    // SAFETY: `geteuid` has no preconditions, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() == 0 }
}

/// The `postgres` system user's uid and gid, from `/etc/passwd` or `id`.
fn postgres_user() -> Option<(u32, u32)> {
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        for line in passwd.lines() {
            let mut fields = line.split(':');
            if fields.next() == Some("postgres") {
                let _password = fields.next();
                let uid = fields.next().and_then(|f| f.parse().ok());
                let gid = fields.next().and_then(|f| f.parse().ok());
                if let (Some(uid), Some(gid)) = (uid, gid) {
                    return Some((uid, gid));
                }
            }
        }
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|binary| is_executable(&dir.join(binary)))
}

/// `QUORATE_PG_BINDIR`, then `PATH`, then the highest `/usr/lib/postgresql/<version>/bin`.
fn find_bindir() -> Result<PathBuf, PgUnavailable> {
    let mut searched = Vec::new();
    if let Some(dir) = std::env::var_os(PG_BINDIR_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
        searched.push(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server_binaries(&dir) {
                return Ok(dir);
            }
            searched.push(dir);
        }
    }
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let version = name
                .to_str()?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    while let Some((_, dir)) = versions.pop() {
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
        searched.push(dir);
    }
    searched.push(base.join("*/bin"));
    Err(PgUnavailable::BinariesNotFound { searched })
}

fn setup_error(step: &'static str) -> impl FnOnce(std::io::Error) -> PgUnavailable {
    move |e| PgUnavailable::Setup {
        step,
        detail: e.to_string(),
    }
}

/// Runs a server command (as `run_as` when set), its output going to `log`.
fn run_logged(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    run_as: Option<(u32, u32)>,
    log: &Path,
) -> Result<(), PgUnavailable> {
    let command_line = format!("{} {}", program.display(), args.join(" "));
    let out = File::create(log).map_err(setup_error("create a log file"))?;
    let err = out.try_clone().map_err(setup_error("create a log file"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Keep Ctrl-C in the terminal away from the server: the watchdog stops it.
        .process_group(0);
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    let status = command.status().map_err(|e| PgUnavailable::CommandFailed {
        command: command_line.clone(),
        detail: e.to_string(),
    })?;
    if status.success() {
        Ok(())
    } else {
        let output = std::fs::read_to_string(log).unwrap_or_default();
        Err(PgUnavailable::CommandFailed {
            command: command_line,
            detail: format!("{status}: {}", output.trim()),
        })
    }
}

fn throwaway_server() -> Result<Server, PgUnavailable> {
    let bindir = find_bindir()?;
    let run_as = if running_as_root() {
        Some(postgres_user().ok_or(PgUnavailable::NoPostgresUser)?)
    } else {
        None
    };
    // The server's user must reach the directory: as root, use the world-traversable `/tmp`
    // rather than a `TMPDIR` that may sit under `/root`. Socket paths are short-limited too.
    let tmp = std::env::temp_dir();
    let parent = if run_as.is_some() || tmp.as_os_str().len() > MAX_SOCKET_DIR_LEN - 40 {
        PathBuf::from("/tmp")
    } else {
        tmp
    };
    let dir = TempDir::new_in(&parent, "quorate-pg").map_err(setup_error("create a directory"))?;
    let socket_dir = dir.path().join("sock");
    std::fs::create_dir(&socket_dir).map_err(setup_error("create the socket directory"))?;
    if let Some((uid, gid)) = run_as {
        for path in [dir.path(), &socket_dir] {
            chown(path, Some(uid), Some(gid))
                .map_err(setup_error("hand the directory to the postgres user"))?;
        }
    }
    // The watchdog comes first: if this process dies from here on (even during `initdb`), the
    // directory and any server in it are removed.
    let watchdog = spawn_watchdog(
        &bindir.join("pg_ctl"),
        &dir.path().join("data"),
        dir.path(),
        run_as,
    )?;
    let mut cluster = Cluster {
        root: dir.keep(),
        postmaster: None,
        watchdog,
    };
    match start_cluster(&bindir, &mut cluster, &socket_dir, run_as) {
        Ok(server) => {
            *lock(&CLUSTER) = Some(cluster);
            register_atexit();
            Ok(server)
        }
        Err(e) => {
            cluster.shutdown();
            Err(e)
        }
    }
}

/// `initdb`, configuration, and a postmaster that accepts connections.
fn start_cluster(
    bindir: &Path,
    cluster: &mut Cluster,
    socket_dir: &Path,
    run_as: Option<(u32, u32)>,
) -> Result<Server, PgUnavailable> {
    let root = cluster.root.clone();
    let data = root.join("data");
    let data_str = data.to_string_lossy().into_owned();
    run_logged(
        &bindir.join("initdb"),
        &[
            "-D",
            &data_str,
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ],
        &root,
        run_as,
        &root.join("initdb.log"),
    )?;

    let quote = |p: &Path| p.to_string_lossy().replace('\'', "''");
    let settings = format!(
        "\n# quorate-testkit: throwaway test server\n\
         listen_addresses = ''\n\
         unix_socket_directories = '{}'\n\
         port = {THROWAWAY_PORT}\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n",
        quote(socket_dir)
    );
    OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .and_then(|mut f| f.write_all(settings.as_bytes()))
        .map_err(setup_error("write postgresql.conf"))?;

    // The postmaster runs as our own child (not daemonized by `pg_ctl start`), so that we reap
    // it: an orphaned postmaster would linger as a zombie until PID 1 gets round to it.
    let log = root.join("server.log");
    let postgres = bindir.join("postgres");
    let postmaster_command = format!("{} -D {data_str}", postgres.display());
    let log_file = File::create(&log).map_err(setup_error("create the server log"))?;
    let log_err = log_file
        .try_clone()
        .map_err(setup_error("create the server log"))?;
    let mut command = Command::new(&postgres);
    command
        .arg("-D")
        .arg(&data)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        // Ctrl-C on the test run must not reach the server: the watchdog stops it.
        .process_group(0);
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    let postmaster = command.spawn().map_err(|e| PgUnavailable::CommandFailed {
        command: postmaster_command.clone(),
        detail: e.to_string(),
    })?;
    cluster.postmaster = Some(postmaster);

    let mut admin = postgres::Config::new();
    admin
        .host_path(socket_dir)
        .port(THROWAWAY_PORT)
        .user("postgres")
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(10));
    let server = Server {
        admin,
        kind: ServerKind::Throwaway {
            socket_dir: socket_dir.to_path_buf(),
        },
    };
    wait_until_ready(&server, cluster, &postmaster_command, &log)?;
    Ok(server)
}

/// Polls until the server accepts connections, fails early if the postmaster exits.
fn wait_until_ready(
    server: &Server,
    cluster: &mut Cluster,
    command: &str,
    log: &Path,
) -> Result<(), PgUnavailable> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        match connect(&server.admin, &server.describe_admin()) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(PgUnavailable::CommandFailed {
                    command: command.to_owned(),
                    detail: format!("not ready after 60 s ({e})\nserver log:\n{}", log_text()),
                });
            }
            Err(_) => {}
        }
        let exited = cluster.postmaster.as_mut().map(Child::try_wait);
        if let Some(Ok(Some(status))) = exited {
            return Err(PgUnavailable::CommandFailed {
                command: command.to_owned(),
                detail: format!("{status}\nserver log:\n{}", log_text().trim()),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts the process that stops the server and deletes `root` once our end of its stdin pipe
/// closes: at `atexit`, or when this process dies however it dies.
fn spawn_watchdog(
    pg_ctl: &Path,
    data: &Path,
    root: &Path,
    run_as: Option<(u32, u32)>,
) -> Result<Child, PgUnavailable> {
    const SCRIPT: &str = r#"read -r _ignored
"$1" stop -D "$2" -m immediate -w -t 60 >/dev/null 2>&1
rm -rf "$3""#;
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", SCRIPT, "quorate-pg-watchdog"])
        .arg(pg_ctl)
        .arg(data)
        .arg(root)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: Ctrl-C on the test run must not kill it before it cleans up.
        .process_group(0);
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    command.spawn().map_err(setup_error("start the watchdog"))
}

#[cfg(test)]
mod tests {
    use super::{database_name, redact, with_dbname};

    #[test]
    fn dbname_is_replaced_in_urls() {
        assert_eq!(
            with_dbname("postgres://u:p@h:5/old?sslmode=disable", "new"),
            "postgres://u:p@h:5/new?sslmode=disable"
        );
        assert_eq!(with_dbname("postgres://h", "new"), "postgres://h/new");
        assert_eq!(
            with_dbname("postgresql://h?x=1", "n"),
            "postgresql://h/n?x=1"
        );
        assert_eq!(
            with_dbname("host=/run user=me", "n"),
            "host=/run user=me dbname=n"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("host=h password=secret user=u"),
            "host=h password=*** user=u"
        );
    }

    #[test]
    fn database_names_are_unique_identifiers() {
        let a = database_name("tests::My Test-Name");
        let b = database_name("tests::My Test-Name");
        assert_ne!(a, b);
        assert!(a.starts_with("test_my_test_name_"), "{a}");
        assert!(a.len() < 64);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}
