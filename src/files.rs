//! Files and folders the tool writes: readable by their owner only (files 0600, folders
//! 0700) whatever the umask, and never seen half-written.
//!
//! The mode is given when a file or folder is created, not set after, so there is no moment
//! when another user could open it. The umask can only take bits away from 0600 and 0700;
//! a folder also gets its mode set again, for the odd umask that takes the owner's own bits.
//!
//! A report file is written beside its place under a temporary name ([`Staged`]), synced,
//! then renamed: a full disk, a killed process or a power cut leaves the previous file or
//! none, never a truncated one that reads as complete. SQLite's own files follow the
//! database's: it creates `-wal` and `-shm` with the mode of the database file, so the
//! journal is created 0600 before SQLite opens it.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The mode of every file the tool creates.
pub const FILE_MODE: u32 = 0o600;
/// The mode of every folder the tool creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents, each 0700. Folders that exist are left as they
/// are: they are not ours to change.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)),
        // Made by someone else in the meantime.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` for reading and writing, creating it 0600 if it does not exist. A file that
/// exists readable by others (made by an older version, under its umask) is narrowed to
/// 0600: it holds what a new one would.
pub fn open_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(FILE_MODE)
        .open(path)?;
    narrow(&file, path);
    Ok(file)
}

/// Opens `path` for reading without following a symbolic link at its name and without
/// blocking (a FIFO or a device answers at once): what is then checked on the descriptor is
/// the file itself. For document files, at validation and again at upload.
pub fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// Narrows a file to 0600 when others can read or write it. A file we may not change (another
/// user's) is used as it is, with a warning.
pub fn narrow(file: &File, path: &Path) {
    let narrowed = file.metadata().and_then(|m| {
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return Ok(());
        }
        file.set_permissions(Permissions::from_mode(FILE_MODE))
    });
    if let Err(e) = narrowed {
        tracing::warn!(
            "could not make '{}' readable by its owner only: {e}",
            path.display()
        );
    }
}

/// Syncs a folder, so that a file created or renamed in it is still there after a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

/// The folder a file sits in (`.` for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Temporary files of this process (reports being written, spooled standard input), removed
/// by [`remove_scratch`] before an exit that skips destructors: a second Ctrl-C, or a signal
/// during a command that reads and writes without a journal. Each [`Scratch`] is listed while
/// it lives.
static SCRATCH: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// A temporary file's place in the scratch list, taken out when dropped (by then the file
/// itself was removed, or renamed into its place).
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(path: &Path) -> Scratch {
        scratch_list().push(path.to_path_buf());
        Scratch(path.to_path_buf())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut list = scratch_list();
        if let Some(i) = list.iter().rposition(|p| *p == self.0) {
            list.swap_remove(i);
        }
    }
}

fn scratch_list() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    SCRATCH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes every temporary file still listed: called just before `std::process::exit`.
pub fn remove_scratch() {
    for path in scratch_list().drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

/// A file being written under a temporary name beside `target` (0600); it takes its place
/// only when [`Staged::finish`] then [`Ready::put_in_place`] succeed. Dropped before, the
/// temporary file is removed and `target` is as it was.
/// It writes straight to the file: its callers buffer (the csv writer, one whole summary).
pub struct Staged {
    file: tempfile::NamedTempFile,
    target: PathBuf,
    scratch: Scratch,
}

impl Staged {
    pub fn create(target: &Path) -> Result<Staged> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // tempfile creates the file with O_EXCL and mode 0600.
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .permissions(Permissions::from_mode(FILE_MODE))
            .tempfile_in(parent_of(target))
            .with_context(|| format!("could not create '{}'", target.display()))?;
        Ok(Staged {
            scratch: Scratch::new(file.path()),
            file,
            target: target.to_path_buf(),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Writes everything out and syncs it to the disk; the file is not in place yet.
    pub fn finish(self) -> Result<Ready> {
        let Staged {
            mut file,
            target,
            scratch,
        } = self;
        file.flush()
            .and_then(|()| file.as_file().sync_all())
            .with_context(|| format!("could not write '{}'", target.display()))?;
        Ok(Ready {
            path: file.into_temp_path(),
            target,
            _scratch: scratch,
        })
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A staged file written whole and synced, waiting to take its place.
pub struct Ready {
    path: tempfile::TempPath,
    target: PathBuf,
    _scratch: Scratch,
}

impl Ready {
    /// Renames the file onto its place (replacing what was there) and syncs the folder.
    pub fn put_in_place(self) -> Result<()> {
        let target = self.target;
        self.path
            .persist(&target)
            .map_err(|e| e.error)
            .with_context(|| format!("could not write '{}'", target.display()))?;
        sync_dir(parent_of(&target))
            .with_context(|| format!("could not write '{}'", target.display()))
    }
}

/// Writes a whole file through [`Staged`]: 0600, in place only once complete.
pub fn write_whole(target: &Path, bytes: &[u8]) -> Result<()> {
    stage(target, bytes)?.put_in_place()
}

/// As [`write_whole`], for a file that holds no personal data and that another user's
/// service reads (node_exporter reads `--metrics-file` as its own user): world-readable,
/// 0644, already when it takes its place.
pub fn write_whole_readable(target: &Path, bytes: &[u8]) -> Result<()> {
    let ready = stage(target, bytes)?;
    std::fs::set_permissions(&ready.path, Permissions::from_mode(0o644))
        .with_context(|| format!("could not write '{}'", target.display()))?;
    ready.put_in_place()
}

/// `bytes` written and synced beside `target`, ready to be put in place.
pub fn stage(target: &Path, bytes: &[u8]) -> Result<Ready> {
    let mut staged = Staged::create(target)?;
    staged
        .write_all(bytes)
        .with_context(|| format!("could not write '{}'", target.display()))?;
    staged.finish()
}

impl Ready {
    /// As [`Ready::put_in_place`], but never replacing a file already there (a key).
    pub fn put_in_place_new(self) -> Result<()> {
        let target = self.target;
        self.path
            .persist_noclobber(&target)
            .map_err(|e| e.error)
            .with_context(|| format!("could not create '{}'", target.display()))?;
        sync_dir(parent_of(&target))
            .with_context(|| format!("could not create '{}'", target.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_are_created_0700_and_files_0600() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_all(&deep).unwrap();
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&dir.path().join(d)), 0o700, "{d}");
        }
        // An existing folder is not ours to change.
        std::fs::set_permissions(dir.path(), Permissions::from_mode(0o755)).unwrap();
        create_dir_all(dir.path()).unwrap();
        assert_eq!(mode(dir.path()), 0o755);

        let journal = deep.join("j.db");
        drop(open_private(&journal).unwrap());
        assert_eq!(mode(&journal), 0o600);
        // One made readable by others (an older version's) is narrowed.
        std::fs::set_permissions(&journal, Permissions::from_mode(0o644)).unwrap();
        drop(open_private(&journal).unwrap());
        assert_eq!(mode(&journal), 0o600);

        let summary = deep.join("summary.json");
        write_whole(&summary, b"{}\n").unwrap();
        assert_eq!(mode(&summary), 0o600);
        assert_eq!(std::fs::read(&summary).unwrap(), b"{}\n");
    }

    #[test]
    fn a_staged_file_replaces_its_target_only_when_put_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("results.csv");
        std::fs::write(&target, "old, complete\n").unwrap();
        let names = || -> Vec<String> {
            let mut n: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n
        };

        // Given up half way (an error, a full disk): the temporary file goes, the old stays.
        let mut staged = Staged::create(&target).unwrap();
        staged.write_all(b"new, half").unwrap();
        staged.flush().unwrap();
        assert_eq!(names().len(), 2, "{:?}", names());
        drop(staged);
        assert_eq!(names(), ["results.csv"]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old, complete\n");

        // Written whole, synced, then in place; and a ready file dropped is removed too.
        let mut staged = Staged::create(&target).unwrap();
        staged.write_all(b"new, complete\n").unwrap();
        let ready = staged.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old, complete\n");
        ready.put_in_place().unwrap();
        assert_eq!(names(), ["results.csv"]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new, complete\n");
        assert_eq!(mode(&target), 0o600);

        let mut staged = Staged::create(&target).unwrap();
        staged.write_all(b"never placed").unwrap();
        drop(staged.finish().unwrap());
        assert_eq!(names(), ["results.csv"]);
    }
}
