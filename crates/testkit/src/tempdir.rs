//! A directory that is removed when dropped.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh, private (mode `0700`) directory, deleted with its contents when dropped.
///
/// Crash tests and store tests need a place for files that no other test touches and that
/// disappears afterwards; this is that place, without pulling in a temp-file crate. The name is
/// `<prefix>-<pid>-<counter>-<nanos>`, created with `mkdir` (never reusing an existing
/// directory), so parallel tests and parallel test processes never collide.
///
/// # Examples
///
/// ```
/// use quorate_testkit::TempDir;
///
/// # fn main() -> std::io::Result<()> {
/// let dir = TempDir::new("example")?;
/// let file = dir.path().join("data.txt");
/// std::fs::write(&file, b"hello")?;
/// let kept = dir.path().to_path_buf();
/// drop(dir);
/// assert!(!kept.exists());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh directory under [`std::env::temp_dir`].
    ///
    /// # Errors
    ///
    /// Any I/O error from creating the directory.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let dir = quorate_testkit::TempDir::new("store")?;
    /// assert!(dir.path().is_dir());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(prefix: &str) -> io::Result<Self> {
        Self::new_in(std::env::temp_dir(), prefix)
    }

    /// Creates a fresh directory inside `parent`.
    ///
    /// Use this when the directory must be reachable by another user (the throwaway PostgreSQL
    /// server uses `/tmp` when it drops root privileges) or must sit on a particular filesystem.
    ///
    /// # Errors
    ///
    /// Any I/O error from creating the directory (for example, `parent` does not exist).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let outer = quorate_testkit::TempDir::new("outer")?;
    /// let inner = quorate_testkit::TempDir::new_in(outer.path(), "inner")?;
    /// assert!(inner.path().starts_with(outer.path()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new_in(parent: impl AsRef<Path>, prefix: &str) -> io::Result<Self> {
        let parent = parent.as_ref();
        let pid = std::process::id();
        let mut last_error = None;
        for _ in 0..64 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = parent.join(format!("{prefix}-{pid}-{n}-{nanos:x}"));
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("could not create a unique directory")))
    }

    /// The directory's path.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let dir = quorate_testkit::TempDir::new("path")?;
    /// assert!(dir.path().is_absolute() || std::env::temp_dir().is_relative());
    /// # Ok(())
    /// # }
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory on disk (for post-mortem inspection) and returns its path.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let path = quorate_testkit::TempDir::new("kept")?.keep();
    /// assert!(path.is_dir());
    /// std::fs::remove_dir_all(&path)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn keep(mut self) -> PathBuf {
        // An empty path tells `drop` there is nothing to remove.
        std::mem::take(&mut self.path)
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a test that leaves something undeletable behind must not panic in drop.
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
