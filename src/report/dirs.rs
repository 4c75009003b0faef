//! Where reports go: the one namer of report folders for `validate`, `run`, `report` and
//! `reconcile`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// `reports/<name>-<UTC timestamp>/`.
pub fn stamped(name: &str, now: DateTime<Utc>) -> PathBuf {
    PathBuf::from("reports").join(format!("{name}-{}", now.format("%Y%m%dT%H%M%SZ")))
}

/// `reports/<file stem>-<UTC timestamp>/`, the contract's default folder of a file's report.
pub fn default_dir(input: &Path, now: DateTime<Utc>) -> PathBuf {
    stamped(&stem(input), now)
}

/// The report folder of each of `files` under one folder given for them all: the folder
/// itself for one file; for several, a subfolder named after each file's stem, a name already
/// handed out getting `-2`, `-3` (`a/x.csv`, `b/x.csv`, `x-2.csv` → `x`, `x-2`, `x-2-2`), so
/// that no report overwrites another.
pub fn per_file_dirs(base: &Path, files: &[impl AsRef<Path>]) -> Vec<PathBuf> {
    if files.len() == 1 {
        return vec![base.to_path_buf()];
    }
    let mut taken = HashSet::<String>::new();
    files
        .iter()
        .map(|f| {
            let stem = stem(f.as_ref());
            let mut name = stem.clone();
            let mut n = 1;
            while !taken.insert(name.clone()) {
                n += 1;
                name = format!("{stem}-{n}");
            }
            base.join(name)
        })
        .collect()
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".to_string())
}

/// The report folder of each file of one invocation, handed out as the files come.
pub struct ReportDirs {
    /// Under the folder given with --report-dir: see [`per_file_dirs`].
    given: Option<std::vec::IntoIter<PathBuf>>,
    /// Default folders handed out so far: two files with the same stem started in the same
    /// second must not share one.
    used: HashSet<PathBuf>,
}

impl ReportDirs {
    pub fn new(given: Option<&Path>, files: &[PathBuf]) -> ReportDirs {
        ReportDirs {
            given: given.map(|dir| per_file_dirs(dir, files).into_iter()),
            used: HashSet::new(),
        }
    }

    pub fn next(&mut self, file: &Path) -> PathBuf {
        if let Some(given) = &mut self.given {
            return given.next().expect("one folder per file");
        }
        // The default folder is stamped when the file starts; a run in the same second (or
        // a file of this invocation with the same stem) gets -2, -3.
        let base = default_dir(file, Utc::now());
        let mut dir = base.clone();
        let mut n = 1;
        while dir.exists() || self.used.contains(&dir) {
            n += 1;
            dir = PathBuf::from(format!("{}-{n}", base.display()));
        }
        self.used.insert(dir.clone());
        dir
    }
}

/// The files a report folder receives.
pub const REPORT_FILES: [&str; 3] = ["results.csv", "rejects.csv", "summary.json"];

/// Refuses, before anything is read or sent, a report that would be written on a file the
/// command reads: a partner's rejects.csv, fixed and sent back, run with `--report-dir`
/// pointing at its own folder, would otherwise be truncated by its own report. Compares
/// files (device and inode), so a symbolic or hard link to an input is caught too.
pub fn refuse_overwriting_inputs(
    inputs: &[impl AsRef<Path>],
    dirs: &[impl AsRef<Path>],
    names: &[&str],
) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let identity = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let read: Vec<(&Path, (u64, u64))> = inputs
        .iter()
        .filter_map(|p| Some((p.as_ref(), identity(p.as_ref())?)))
        .collect();
    for dir in dirs {
        for name in names {
            let target = dir.as_ref().join(name);
            let Some(id) = identity(&target) else {
                continue;
            };
            if let Some((input, _)) = read.iter().find(|(_, i)| *i == id) {
                anyhow::bail!(
                    "the report file '{}' would be written over the input '{}': give \
                     --report-dir another folder",
                    target.display(),
                    input.display()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_with_the_same_stem_get_their_own_report_folders() {
        let given = PathBuf::from("out");
        let files = ["a/x.csv", "b/x.csv", "b/y.csv", "c/x.csv"].map(PathBuf::from);
        let mut dirs = ReportDirs::new(Some(&given), &files);
        let handed: Vec<PathBuf> = files.iter().map(|f| dirs.next(f)).collect();
        assert_eq!(
            handed,
            ["out/x", "out/x-2", "out/y", "out/x-3"].map(PathBuf::from)
        );
        // One file: the folder given, as is.
        let one = [PathBuf::from("a/x.csv")];
        assert_eq!(
            ReportDirs::new(Some(&given), &one).next(&one[0]),
            PathBuf::from("out")
        );
    }

    #[test]
    fn default_report_folders_of_one_invocation_never_coincide() {
        let mut dirs = ReportDirs::new(None, &[]);
        let first = dirs.next(Path::new("a/x.csv"));
        let second = dirs.next(Path::new("b/x.csv"));
        assert_ne!(first, second);
        assert!(first.starts_with("reports"), "{first:?}");
    }
}
