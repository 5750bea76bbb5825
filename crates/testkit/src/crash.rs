//! Crash tests: run a scenario in a child process that aborts at a named point. The protocol
//! between parent and child is described in the crate docs.

use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::TempDir;

const DIR_ENV: &str = "QUORATE_CRASH_DIR";
const TEST_ENV: &str = "QUORATE_CRASH_TEST";
const AT_ENV: &str = "QUORATE_CRASH_AT";
const ARG_KEY_ENV: &str = "QUORATE_CRASH_ARGK_";
const ARG_VALUE_ENV: &str = "QUORATE_CRASH_ARGV_";
const REPORT_FILE: &str = "report";
/// Exit code of a child whose scenario panicked.
const PANIC_EXIT_CODE: i32 = 101;

/// Set only in a crash-test child, once the scenario is about to run.
static ARMED: AtomicBool = AtomicBool::new(false);
static CHILD: OnceLock<ChildState> = OnceLock::new();

thread_local! {
    /// Harness calls made by the current test (libtest runs each test on its own thread).
    static CALLS: Cell<u32> = const { Cell::new(0) };
}

struct ChildState {
    target: Option<CrashPoint>,
    /// Hit counts per point, in order of first hit.
    hits: Mutex<Vec<PointHits>>,
    report: Mutex<File>,
}

/// Marks a place where a crash test may kill the process.
///
/// Call it in the code under test at every step whose interruption matters (after the write,
/// before the fsync, between the two updates). Outside a crash-test child it does nothing, at the
/// cost of one relaxed atomic load. In a child armed to crash at `name` on hit `n`, the `n`-th
/// call with that name (counted across all threads) records the point and calls
/// [`std::process::abort`]: no destructors, no buffered writes flushed, as with a real crash
/// (only an OS crash or power loss is harsher). In a dry run it counts the hits, which is how
/// [`CrashTest::every_crash_point`] discovers the steps.
///
/// Its signature is `fn(&str)`, so library crates that must not depend on this one can take a
/// `fn(&str)` hook and tests can pass `crash_point`.
///
/// # Examples
///
/// ```
/// use quorate_testkit::crash_point;
///
/// fn append(log: &mut Vec<u32>, value: u32) {
///     log.push(value);
///     crash_point("append.after_push");
/// }
///
/// let mut log = Vec::new();
/// append(&mut log, 7); // not in a crash-test child: nothing happens
/// assert_eq!(log, [7]);
/// ```
#[inline]
pub fn crash_point(name: &str) {
    if ARMED.load(Ordering::Relaxed) {
        hit(name);
    }
}

#[cold]
#[inline(never)]
fn hit(name: &str) {
    let Some(state) = CHILD.get() else { return };
    let mut hits = state.hits.lock().unwrap_or_else(PoisonError::into_inner);
    let n = match hits.iter_mut().find(|p| p.name == name) {
        Some(p) => {
            p.hits += 1;
            p.hits
        }
        None => {
            hits.push(PointHits {
                name: name.to_owned(),
                hits: 1,
            });
            1
        }
    };
    if let Some(target) = &state.target
        && target.hit == n
        && target.name == name
    {
        write_line(state, &format!("crash {n} {}", escape(name)));
        std::process::abort();
    }
}

/// Sends a line from a crash-test child to the parent ([`CrashReport::notes`]).
///
/// Use it to tell the parent what the scenario had acknowledged before it died, so the check can
/// assert that nothing acknowledged was lost. Each note is written to the report file at once,
/// so it survives the abort. Outside a child it does nothing.
///
/// # Examples
///
/// ```
/// use quorate_testkit::crash_note;
///
/// // In a scenario, after an operation was acknowledged:
/// crash_note("acked 1");
/// ```
pub fn crash_note(text: &str) {
    if ARMED.load(Ordering::Relaxed)
        && let Some(state) = CHILD.get()
    {
        write_line(state, &format!("note {}", escape(text)));
    }
}

fn write_line(state: &ChildState, line: &str) {
    let mut file = state.report.lock().unwrap_or_else(PoisonError::into_inner);
    // One `write` per line; there is nothing useful to do if the report cannot be written, and
    // the parent then reports a missing line.
    let _ = file.write_all(format!("{line}\n").as_bytes());
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A named crash point and the hit (1-based) at which the child aborts.
///
/// # Examples
///
/// ```
/// use quorate_testkit::CrashPoint;
///
/// # fn main() -> Result<(), quorate_testkit::InvalidCrashPoint> {
/// let at = CrashPoint::new("wal.after_write", 2)?;
/// assert_eq!(at.name(), "wal.after_write");
/// assert_eq!(at.hit(), 2);
/// assert_eq!(at.to_string(), "wal.after_write#2");
/// assert!(CrashPoint::new("wal.after_write", 0).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CrashPoint {
    name: String,
    hit: u64,
}

/// A [`CrashPoint`] that cannot be armed.
///
/// # Examples
///
/// ```
/// use quorate_testkit::{CrashPoint, InvalidCrashPoint};
///
/// assert_eq!(CrashPoint::new("", 1), Err(InvalidCrashPoint::EmptyName));
/// assert_eq!(CrashPoint::new("p", 0), Err(InvalidCrashPoint::ZeroHit));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCrashPoint {
    /// The name is empty.
    #[error("crash point name is empty")]
    EmptyName,
    /// Hits are counted from 1.
    #[error("crash point hit must be at least 1")]
    ZeroHit,
}

impl CrashPoint {
    /// Names the `hit`-th call of `crash_point(name)`.
    ///
    /// # Errors
    ///
    /// [`InvalidCrashPoint`] when `name` is empty or `hit` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_testkit::InvalidCrashPoint> {
    /// let first = quorate_testkit::CrashPoint::new("commit", 1)?;
    /// assert_eq!(first.hit(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(name: impl Into<String>, hit: u64) -> Result<Self, InvalidCrashPoint> {
        let name = name.into();
        if name.is_empty() {
            return Err(InvalidCrashPoint::EmptyName);
        }
        if hit == 0 {
            return Err(InvalidCrashPoint::ZeroHit);
        }
        Ok(Self { name, hit })
    }

    /// The point's name, as passed to [`crash_point`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_testkit::InvalidCrashPoint> {
    /// assert_eq!(quorate_testkit::CrashPoint::new("fsync", 3)?.name(), "fsync");
    /// # Ok(())
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which hit aborts (1 is the first call).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_testkit::InvalidCrashPoint> {
    /// assert_eq!(quorate_testkit::CrashPoint::new("fsync", 3)?.hit(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn hit(&self) -> u64 {
        self.hit
    }

    fn encode(&self) -> String {
        format!("{} {}", self.hit, self.name)
    }

    fn decode(s: &str) -> Option<Self> {
        let (hit, name) = s.split_once(' ')?;
        Self::new(name, hit.parse().ok()?).ok()
    }
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.name, self.hit)
    }
}

/// How many times a child passed one crash point.
///
/// # Examples
///
/// ```
/// let p = quorate_testkit::PointHits { name: "commit".into(), hits: 2 };
/// assert_eq!(p.hits, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PointHits {
    /// The point's name.
    pub name: String,
    /// How many times `crash_point(name)` was called.
    pub hits: u64,
}

/// How a crash-test child ended.
///
/// # Examples
///
/// ```
/// use quorate_testkit::ChildOutcome;
///
/// let outcome = ChildOutcome::Exited { code: 3 };
/// assert_eq!(outcome.to_string(), "exited with code 3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChildOutcome {
    /// The scenario returned and the child exited with status 0.
    Completed,
    /// The child aborted at the armed crash point.
    Crashed {
        /// Where it aborted.
        point: CrashPoint,
    },
    /// The scenario panicked.
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The child exited with this code without finishing the scenario (for example, the scenario
    /// called `std::process::exit`).
    Exited {
        /// The exit code.
        code: i32,
    },
    /// The child was killed by a signal other than an armed crash point's abort (including an
    /// `abort` elsewhere, which is `SIGABRT`, 6).
    Signaled {
        /// The signal number.
        signal: i32,
    },
    /// The child ran past [`CrashTest::timeout`] and was killed.
    TimedOut,
}

impl fmt::Display for ChildOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Completed => f.write_str("completed"),
            Self::Crashed { point } => write!(f, "crashed at {point}"),
            Self::Panicked { message } => write!(f, "panicked: {message}"),
            Self::Exited { code } => write!(f, "exited with code {code}"),
            Self::Signaled { signal } => write!(f, "killed by signal {signal}"),
            Self::TimedOut => f.write_str("timed out"),
        }
    }
}

/// What the parent learns about one child run.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), quorate_testkit::CrashError> {
/// use quorate_testkit::{ChildOutcome, CrashPoint, CrashTest, crash_point};
///
/// let at = CrashPoint::new("step", 1).expect("valid point");
/// let report = CrashTest::current()?.crash_at(&at, |_| crash_point("step"))?;
/// assert_eq!(report.outcome, ChildOutcome::Crashed { point: at });
/// assert_eq!(report.crashed_at().map(|p| p.name()), Some("step"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CrashReport {
    /// The point the child was armed to crash at (`None` for a dry run).
    pub armed: Option<CrashPoint>,
    /// How the child ended.
    pub outcome: ChildOutcome,
    /// Hit counts per crash point, in order of first hit. Filled when the scenario returned or
    /// panicked; empty after a crash.
    pub hits: Vec<PointHits>,
    /// The lines the scenario sent with [`crash_note`], in order.
    pub notes: Vec<String>,
    /// The child's standard output (including the test harness's lines).
    pub stdout: String,
    /// The child's standard error (panic messages land here).
    pub stderr: String,
}

impl CrashReport {
    /// The point the child died at, when it died at the armed crash point.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), quorate_testkit::CrashError> {
    /// let report = quorate_testkit::CrashTest::current()?.dry_run(|_| {})?;
    /// assert_eq!(report.crashed_at(), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn crashed_at(&self) -> Option<&CrashPoint> {
        match &self.outcome {
            ChildOutcome::Crashed { point } => Some(point),
            _ => None,
        }
    }
}

impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.armed {
            Some(point) => write!(f, "child armed at {point} {}", self.outcome),
            None => write!(f, "child (dry run) {}", self.outcome),
        }
    }
}

/// The result of [`CrashTest::every_crash_point`].
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), quorate_testkit::CrashError> {
/// use quorate_testkit::{CrashTest, crash_point};
///
/// let explored = CrashTest::current()?.every_crash_point(
///     |_| { crash_point("a"); crash_point("a"); crash_point("b"); },
///     |report| assert!(report.outcome.to_string().len() > 0),
/// )?;
/// assert_eq!(explored.crash_runs, 3); // a#1, a#2, b#1
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CrashExploration {
    /// The points the dry run passed, with their hit counts, in order of first hit.
    pub points: Vec<PointHits>,
    /// How many children were armed to crash (the dry run not counted).
    pub crash_runs: usize,
    /// Whether some hits were not tried because of [`CrashTest::max_hits_per_point`].
    pub truncated: bool,
}

/// Why a crash test could not run or could not be judged.
///
/// A child that crashes, panics or exits early is not an error: that is a [`ChildOutcome`].
/// These are failures of the harness itself.
///
/// # Examples
///
/// ```
/// use quorate_testkit::CrashError;
///
/// let err = CrashError::UnknownTestName;
/// assert!(err.to_string().starts_with("cannot tell"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrashError {
    /// The current thread is not named after a test (not running under libtest): use
    /// [`CrashTest::new`] with the test's full name.
    #[error(
        "cannot tell the current test's name (not on a libtest test thread): use CrashTest::new"
    )]
    UnknownTestName,
    /// A test may make only one harness call, because the child re-runs the test from the top
    /// and executes the first call it reaches.
    #[error(
        "a test may make only one crash-harness call (the child re-runs the test from the top)"
    )]
    SecondHarnessCall,
    /// Spawning or waiting for the child, or reading its report, failed.
    #[error("could not {step}: {source}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The child ended without starting the scenario: usually the test name given to
    /// [`CrashTest::new`] does not match the test exactly (`module::test_fn`), so the filter
    /// selected nothing.
    #[error(
        "the child never reached the scenario of `{test}` ({status}); check the test name\n\
         child stdout:\n{stdout}\nchild stderr:\n{stderr}"
    )]
    ChildDidNotRun {
        /// The test name used as the filter.
        test: String,
        /// The child's exit status.
        status: String,
        /// The child's standard output.
        stdout: String,
        /// The child's standard error.
        stderr: String,
    },
    /// The dry run of [`CrashTest::every_crash_point`] did not complete, so the crash points
    /// could not be discovered.
    #[error("the dry run did not complete: {}\nchild stderr:\n{}", .0.outcome, .0.stderr)]
    DryRunFailed(Box<CrashReport>),
    /// A harness argument is missing in the child.
    #[error("crash-test argument `{0}` was not given")]
    MissingArg(String),
    /// A harness argument is not UTF-8.
    #[error("crash-test argument `{0}` is not valid UTF-8")]
    ArgNotUtf8(String),
}

/// The arguments a parent passed to its crash-test child with [`CrashTest::arg`].
///
/// The child re-runs the test from the top, so anything it creates before the harness call (a
/// temporary directory, a database) is its own, not the parent's. Pass what the scenario must
/// share with the parent's check (the store's path, a connection string) as arguments, and read
/// them here.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), quorate_testkit::CrashError> {
/// use quorate_testkit::{CrashTest, TempDir};
///
/// let dir = TempDir::new("store").expect("temp dir");
/// let report = CrashTest::current()?.arg("dir", dir.path()).dry_run(|args| {
///     let dir = args.path("dir").expect("the parent passed it");
///     std::fs::write(dir.join("file"), b"x").expect("write");
/// })?;
/// assert!(dir.path().join("file").exists());
/// # drop(report);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CrashArgs {
    args: Vec<(String, OsString)>,
}

impl CrashArgs {
    /// The raw value of `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let args = quorate_testkit::CrashArgs::default();
    /// assert_eq!(args.get("missing"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&OsStr> {
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_os_str())
    }

    /// The value of `key` as a string.
    ///
    /// # Errors
    ///
    /// [`CrashError::MissingArg`] or [`CrashError::ArgNotUtf8`].
    ///
    /// # Examples
    ///
    /// ```
    /// let args = quorate_testkit::CrashArgs::default();
    /// assert!(args.str("url").is_err());
    /// ```
    pub fn str(&self, key: &str) -> Result<&str, CrashError> {
        self.get(key)
            .ok_or_else(|| CrashError::MissingArg(key.to_owned()))?
            .to_str()
            .ok_or_else(|| CrashError::ArgNotUtf8(key.to_owned()))
    }

    /// The value of `key` as a path.
    ///
    /// # Errors
    ///
    /// [`CrashError::MissingArg`].
    ///
    /// # Examples
    ///
    /// ```
    /// let args = quorate_testkit::CrashArgs::default();
    /// assert!(args.path("dir").is_err());
    /// ```
    pub fn path(&self, key: &str) -> Result<&Path, CrashError> {
        self.get(key)
            .map(Path::new)
            .ok_or_else(|| CrashError::MissingArg(key.to_owned()))
    }

    fn from_env() -> Self {
        let mut args = Vec::new();
        for i in 0.. {
            let (Some(key), Some(value)) = (
                std::env::var(format!("{ARG_KEY_ENV}{i}")).ok(),
                std::env::var_os(format!("{ARG_VALUE_ENV}{i}")),
            ) else {
                break;
            };
            args.push((key, value));
        }
        Self { args }
    }
}

/// Runs a scenario in a child process that may crash, and reports how it ended.
///
/// Build one in a `#[test]` with [`CrashTest::current`] (or [`CrashTest::new`] with the test's
/// full name), pass what the child must share with [`arg`](Self::arg), then make **one** harness
/// call: [`crash_at`](Self::crash_at) (abort at one point), [`dry_run`](Self::dry_run) (never
/// abort; discover the points) or [`every_crash_point`](Self::every_crash_point) (a dry run,
/// then one child per point and hit). In the child the call runs the scenario and exits the
/// process; in the parent it returns the [`CrashReport`], and the test goes on to reopen the
/// store and check its invariants.
///
/// # Examples
///
/// ```no_run
/// use quorate_testkit::{ChildOutcome, CrashPoint, CrashTest, TempDir, crash_note, crash_point};
///
/// #[test]
/// fn appended_lines_survive_a_crash() -> Result<(), Box<dyn std::error::Error>> {
///     let dir = TempDir::new("log")?;
///     let log = dir.path().join("log");
///     let at = CrashPoint::new("append.after_write", 2)?;
///     let report = CrashTest::current()?.arg("log", &log).crash_at(&at, |args| {
///         let log = args.path("log").expect("arg");
///         for i in 0..3 {
///             let mut text = std::fs::read_to_string(log).unwrap_or_default();
///             text.push_str(&format!("{i}\n"));
///             std::fs::write(log, text).expect("write");
///             crash_note(&format!("acked {i}"));
///             crash_point("append.after_write");
///         }
///     })?;
///     assert_eq!(report.outcome, ChildOutcome::Crashed { point: at });
///     // Reopen and check: everything acknowledged is there.
///     let text = std::fs::read_to_string(&log)?;
///     assert_eq!(report.notes, ["acked 0", "acked 1"]);
///     assert_eq!(text, "0\n1\n");
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashTest {
    test: String,
    args: Vec<(String, OsString)>,
    envs: Vec<(OsString, OsString)>,
    timeout: Duration,
    max_hits_per_point: u64,
}

impl CrashTest {
    /// A crash test for the test named `test`, exactly as libtest prints it (`module::test_fn`;
    /// integration tests at the top of their file have no module prefix).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = quorate_testkit::CrashTest::new("wal::survives_crash");
    /// assert_eq!(t.test_name(), "wal::survives_crash");
    /// ```
    pub fn new(test: impl Into<String>) -> Self {
        Self {
            test: test.into(),
            args: Vec::new(),
            envs: Vec::new(),
            timeout: Duration::from_secs(120),
            max_hits_per_point: u64::MAX,
        }
    }

    /// A crash test for the test running on this thread (libtest names each test's thread after
    /// the test).
    ///
    /// # Errors
    ///
    /// [`CrashError::UnknownTestName`] when this thread is unnamed or is the main thread.
    ///
    /// # Examples
    ///
    /// ```
    /// // In a doctest the code runs on the main thread, which is not a test's thread.
    /// assert!(quorate_testkit::CrashTest::current().is_err());
    /// ```
    pub fn current() -> Result<Self, CrashError> {
        match std::thread::current().name() {
            Some(name) if name != "main" && !name.is_empty() => Ok(Self::new(name)),
            _ => Err(CrashError::UnknownTestName),
        }
    }

    /// The test name used as the child's filter.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(quorate_testkit::CrashTest::new("t").test_name(), "t");
    /// ```
    pub fn test_name(&self) -> &str {
        &self.test
    }

    /// Passes `key = value` to the child's scenario ([`CrashArgs`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = quorate_testkit::CrashTest::new("t").arg("dir", "/tmp/x");
    /// # drop(t);
    /// ```
    #[must_use]
    pub fn arg(mut self, key: impl Into<String>, value: impl AsRef<OsStr>) -> Self {
        self.args.push((key.into(), value.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable in the child (for code under test configured that way).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = quorate_testkit::CrashTest::new("t").env("RUST_LOG", "debug");
    /// # drop(t);
    /// ```
    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Kills a child that runs longer than `timeout` ([`ChildOutcome::TimedOut`]); 120 s by
    /// default.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = quorate_testkit::CrashTest::new("t").timeout(std::time::Duration::from_secs(5));
    /// # drop(t);
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Limits [`every_crash_point`](Self::every_crash_point) to the first `max` hits of each
    /// point (a point in a loop may be hit thousands of times); unlimited by default.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = quorate_testkit::CrashTest::new("t").max_hits_per_point(3);
    /// # drop(t);
    /// ```
    #[must_use]
    pub fn max_hits_per_point(mut self, max: u64) -> Self {
        self.max_hits_per_point = max;
        self
    }

    /// Runs `scenario` in a child that aborts at `point`, and reports how the child ended.
    ///
    /// # Errors
    ///
    /// [`CrashError`] when the harness itself fails: a second harness call in the same test,
    /// the child cannot be spawned, or it never reached the scenario.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use quorate_testkit::{CrashPoint, CrashTest, crash_point};
    ///
    /// let at = CrashPoint::new("after_commit", 1)?;
    /// let report = CrashTest::current()?.crash_at(&at, |_| crash_point("after_commit"))?;
    /// assert_eq!(report.crashed_at(), Some(&at));
    /// # Ok(())
    /// # }
    /// ```
    pub fn crash_at<F>(&self, point: &CrashPoint, scenario: F) -> Result<CrashReport, CrashError>
    where
        F: FnOnce(&CrashArgs),
    {
        self.enter(scenario)?;
        self.spawn(Some(point))
    }

    /// Runs `scenario` in a child with every crash point counting but none armed.
    ///
    /// The report's [`hits`](CrashReport::hits) lists the points passed. Also the way to check
    /// a scenario that must complete, or to see how a panicking scenario is reported.
    ///
    /// # Errors
    ///
    /// As [`crash_at`](Self::crash_at).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), quorate_testkit::CrashError> {
    /// use quorate_testkit::{ChildOutcome, CrashTest, crash_point};
    ///
    /// let report = CrashTest::current()?.dry_run(|_| crash_point("a"))?;
    /// assert_eq!(report.outcome, ChildOutcome::Completed);
    /// assert_eq!(report.hits[0].hits, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn dry_run<F>(&self, scenario: F) -> Result<CrashReport, CrashError>
    where
        F: FnOnce(&CrashArgs),
    {
        self.enter(scenario)?;
        self.spawn(None)
    }

    /// Kills the scenario at each step: a dry run discovers every crash point and its hit count,
    /// then one child per `(point, hit)` aborts there; `check` sees every report (the dry run's
    /// first), and is where the parent reopens the store and asserts the invariants.
    ///
    /// State is the caller's to reset: the scenario runs many times against whatever the
    /// previous child left, so either let the scenario start from scratch or reset in `check`.
    ///
    /// # Errors
    ///
    /// [`CrashError::DryRunFailed`] when the dry run does not complete, and the errors of
    /// [`crash_at`](Self::crash_at).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), quorate_testkit::CrashError> {
    /// use quorate_testkit::{CrashTest, crash_note, crash_point};
    ///
    /// let explored = CrashTest::current()?.every_crash_point(
    ///     |_| {
    ///         for i in 0..2 {
    ///             crash_point("before_ack");
    ///             crash_note(&format!("acked {i}"));
    ///         }
    ///     },
    ///     |report| assert!(report.notes.len() <= 2),
    /// )?;
    /// assert_eq!(explored.crash_runs, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn every_crash_point<F, C>(
        &self,
        scenario: F,
        mut check: C,
    ) -> Result<CrashExploration, CrashError>
    where
        F: FnOnce(&CrashArgs),
        C: FnMut(&CrashReport),
    {
        self.enter(scenario)?;
        let dry = self.spawn(None)?;
        if dry.outcome != ChildOutcome::Completed {
            return Err(CrashError::DryRunFailed(Box::new(dry)));
        }
        check(&dry);
        let mut exploration = CrashExploration {
            points: dry.hits.clone(),
            crash_runs: 0,
            truncated: false,
        };
        for point in &dry.hits {
            if point.hits > self.max_hits_per_point {
                exploration.truncated = true;
            }
            for hit in 1..=point.hits.min(self.max_hits_per_point) {
                let at = CrashPoint {
                    name: point.name.clone(),
                    hit,
                };
                let report = self.spawn(Some(&at))?;
                check(&report);
                exploration.crash_runs += 1;
            }
        }
        Ok(exploration)
    }

    /// In a child: runs the scenario and exits. In the parent: enforces one call per test.
    fn enter<F: FnOnce(&CrashArgs)>(&self, scenario: F) -> Result<(), CrashError> {
        if let Some(dir) = std::env::var_os(DIR_ENV)
            && std::env::var_os(TEST_ENV).is_some_and(|t| t == self.test.as_str())
        {
            run_child(Path::new(&dir), scenario);
        }
        let calls = CALLS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        if calls > 1 {
            return Err(CrashError::SecondHarnessCall);
        }
        Ok(())
    }

    fn spawn(&self, at: Option<&CrashPoint>) -> Result<CrashReport, CrashError> {
        let io = |step| move |source| CrashError::Io { step, source };
        let dir = TempDir::new("quorate-crash").map_err(io("create the child's directory"))?;
        let stdout_path = dir.path().join("stdout");
        let stderr_path = dir.path().join("stderr");
        let stdout = File::create(&stdout_path).map_err(io("create the child's stdout file"))?;
        let stderr = File::create(&stderr_path).map_err(io("create the child's stderr file"))?;
        File::create(dir.path().join(REPORT_FILE)).map_err(io("create the report file"))?;

        let exe = std::env::current_exe().map_err(io("find the test binary"))?;
        let mut command = Command::new(exe);
        command
            .args([
                self.test.as_str(),
                "--exact",
                "--nocapture",
                "--include-ignored",
                "--test-threads=1",
            ])
            .env(DIR_ENV, dir.path())
            .env(TEST_ENV, &self.test)
            .env(AT_ENV, at.map(CrashPoint::encode).unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for (i, (key, value)) in self.args.iter().enumerate() {
            command
                .env(format!("{ARG_KEY_ENV}{i}"), key)
                .env(format!("{ARG_VALUE_ENV}{i}"), value);
        }
        command.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if std::env::var_os(crate::pg::PG_URL_ENV).is_none()
            && !self.envs.iter().any(|(k, _)| k == crate::pg::PG_URL_ENV)
            && let Some(url) = crate::pg::running_server_url()
        {
            command.env(crate::pg::PG_URL_ENV, url);
        }
        let mut child = command.spawn().map_err(io("spawn the child"))?;

        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait().map_err(io("wait for the child"))? {
                Some(status) => break Some(status),
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                None => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        };

        let read = |path: &Path| {
            std::fs::read(path)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .map_err(io("read the child's output"))
        };
        let stdout = read(&stdout_path)?;
        let stderr = read(&stderr_path)?;
        let report = read(&dir.path().join(REPORT_FILE))?;
        let parsed = ParsedReport::parse(&report);
        if !parsed.started && status.is_some() {
            return Err(CrashError::ChildDidNotRun {
                test: self.test.clone(),
                status: status.map(|s| s.to_string()).unwrap_or_default(),
                stdout,
                stderr,
            });
        }
        let outcome = outcome(status, &parsed);
        Ok(CrashReport {
            armed: at.cloned(),
            outcome,
            hits: parsed.hits,
            notes: parsed.notes,
            stdout,
            stderr,
        })
    }
}

#[derive(Default)]
struct ParsedReport {
    started: bool,
    done: bool,
    crash: Option<CrashPoint>,
    panic: Option<String>,
    hits: Vec<PointHits>,
    notes: Vec<String>,
}

impl ParsedReport {
    fn parse(text: &str) -> Self {
        let mut parsed = Self::default();
        for line in text.lines() {
            let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
            match kind {
                "started" => parsed.started = true,
                "done" => parsed.done = true,
                "note" => parsed.notes.push(unescape(rest)),
                "panic" => parsed.panic = Some(unescape(rest)),
                "crash" => parsed.crash = CrashPoint::decode(&unescape(rest)),
                "hits" => {
                    if let Some((n, name)) = rest.split_once(' ')
                        && let Ok(hits) = n.parse()
                    {
                        parsed.hits.push(PointHits {
                            name: unescape(name),
                            hits,
                        });
                    }
                }
                _ => {}
            }
        }
        parsed
    }
}

fn outcome(status: Option<ExitStatus>, report: &ParsedReport) -> ChildOutcome {
    let Some(status) = status else {
        return ChildOutcome::TimedOut;
    };
    if let Some(signal) = status.signal() {
        return match &report.crash {
            Some(point) if signal == libc::SIGABRT => ChildOutcome::Crashed {
                point: point.clone(),
            },
            _ => ChildOutcome::Signaled { signal },
        };
    }
    let code = status.code().unwrap_or(-1);
    if let Some(message) = &report.panic {
        return ChildOutcome::Panicked {
            message: message.clone(),
        };
    }
    if report.done && code == 0 {
        return ChildOutcome::Completed;
    }
    ChildOutcome::Exited { code }
}

/// The child side: arm the crash points, run the scenario, report, exit.
fn run_child<F: FnOnce(&CrashArgs)>(dir: &Path, scenario: F) -> ! {
    let report = OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join(REPORT_FILE));
    let report = match report {
        Ok(file) => file,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "crash child: cannot open its report: {e}"
            );
            std::process::exit(PANIC_EXIT_CODE);
        }
    };
    let target = std::env::var(AT_ENV)
        .ok()
        .and_then(|at| CrashPoint::decode(&at));
    let state = CHILD.get_or_init(|| ChildState {
        target,
        hits: Mutex::new(Vec::new()),
        report: Mutex::new(report),
    });
    write_line(state, "started");
    let args = CrashArgs::from_env();
    ARMED.store(true, Ordering::SeqCst);
    let result = catch_unwind(AssertUnwindSafe(|| scenario(&args)));
    let hits = state
        .hits
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for point in hits {
        write_line(
            state,
            &format!("hits {} {}", point.hits, escape(&point.name)),
        );
    }
    match result {
        Ok(()) => {
            write_line(state, "done");
            std::process::exit(0);
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            write_line(state, &format!("panic {}", escape(&message)));
            std::process::exit(PANIC_EXIT_CODE);
        }
    }
}

/// Whether this process is a crash-test child (the scenario may be running).
///
/// Rarely needed: code before the harness call runs in the child too, and can use this to skip
/// expensive setup that only the parent needs.
///
/// # Examples
///
/// ```
/// assert!(!quorate_testkit::is_crash_child());
/// ```
pub fn is_crash_child() -> bool {
    std::env::var_os(DIR_ENV).is_some()
}

#[cfg(test)]
mod tests {
    use super::{CrashPoint, ParsedReport, escape, unescape};

    #[test]
    fn escaping_round_trips() {
        for s in ["plain", "a\nb", "back\\slash\\n", "\r\n\\", ""] {
            assert_eq!(unescape(&escape(s)), s);
            assert!(!escape(s).contains('\n'));
        }
    }

    #[test]
    fn crash_points_encode_and_decode() {
        let p = CrashPoint::new("name with spaces", 12).expect("valid");
        assert_eq!(CrashPoint::decode(&p.encode()), Some(p));
        assert_eq!(CrashPoint::decode("0 x"), None);
        assert_eq!(CrashPoint::decode("x"), None);
    }

    #[test]
    fn reports_parse() {
        let r = ParsedReport::parse("started\nnote a\\nb\nhits 3 p q\ndone\n");
        assert!(r.started && r.done);
        assert_eq!(r.notes, ["a\nb"]);
        assert_eq!(r.hits[0].name, "p q");
        assert_eq!(r.hits[0].hits, 3);
    }
}
