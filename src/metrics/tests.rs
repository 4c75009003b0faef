//! No Prometheus parser crate is available offline, so `exposition` below checks the text
//! against the rules of the text exposition format as Prometheus documents them
//! (https://prometheus.io/docs/instrumenting/exposition_formats/, "Text format details"),
//! with the textfile collector's one extra rule: no timestamps.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::*;

/// One sample: its metric name, labels and value.
type Sample = (String, BTreeMap<String, String>, f64);

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

/// A value as Go's ParseFloat takes it, plus the format's "+Inf", "-Inf" and "NaN".
fn value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("'{s}' is not a float")),
    }
}

/// `{name="value",...}`: label values escape only `\\`, `\"` and `\n`.
fn labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").ok_or(format!("no =\" in {s}"))?;
        if !is_label_name(name) {
            return Err(format!("bad label name '{name}'"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or(format!("unterminated value in {s}"))? {
                (i, '"') => break i,
                (_, '\\') => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in {s}")),
                },
                (_, '\n') => return Err("raw newline in a label value".into()),
                (_, c) => value.push(c),
            }
        };
        if out.insert(name.to_owned(), value).is_some() {
            return Err(format!("label '{name}' twice"));
        }
        rest = &after[end + 1..];
        rest = match rest.strip_prefix(',') {
            Some(r) => r,
            None if rest.is_empty() => rest,
            None => return Err(format!("expected , after a label in {s}")),
        };
    }
    Ok(out)
}

/// Parses `text` under the format's rules; every metric family must have HELP and TYPE.
fn exposition(text: &str) -> Result<Vec<Sample>, String> {
    if !text.ends_with('\n') {
        return Err("the last line must end with a newline".into());
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut seen: HashSet<(String, BTreeMap<String, String>)> = HashSet::new();
    let mut samples = Vec::new();
    for line in text.split_terminator('\n') {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
            match words.as_slice() {
                ["HELP", name, help] => {
                    if !is_metric_name(name) || !helps.insert(name.to_string()) {
                        return Err(format!("bad or repeated HELP: {line}"));
                    }
                    // HELP escapes only `\\` and `\n`.
                    let mut chars = help.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
                            return Err(format!("bad escape in HELP: {line}"));
                        }
                    }
                }
                ["TYPE", name, kind] => {
                    let kinds = ["counter", "gauge", "histogram", "summary", "untyped"];
                    if !is_metric_name(name) || !kinds.contains(kind) {
                        return Err(format!("bad TYPE: {line}"));
                    }
                    if types.insert(name.to_string(), kind.to_string()).is_some()
                        || finished.contains(*name)
                        || seen.iter().any(|(n, _)| n == name)
                    {
                        return Err(format!("TYPE after the family's samples or twice: {line}"));
                    }
                }
                _ => {}
            }
            continue;
        }
        let (series, rest) = match line.find('{') {
            Some(_) => {
                let close = line.rfind('}').ok_or(format!("no }} in {line}"))?;
                (&line[..close + 1], line[close + 1..].trim_start())
            }
            None => line.split_once(' ').ok_or(format!("no value in {line}"))?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, inner)) => (name, labels(&inner[..inner.len() - 1])?),
            None => (series, BTreeMap::new()),
        };
        if !is_metric_name(name) {
            return Err(format!("bad metric name '{name}'"));
        }
        let parts: Vec<&str> = rest.split(' ').collect();
        let [v] = parts.as_slice() else {
            return Err(format!(
                "a timestamp or extra field (textfile refuses): {line}"
            ));
        };
        let v = value(v)?;
        if types.get(name).map(String::as_str) != Some("gauge") || !helps.contains(name) {
            return Err(format!("'{name}' has no HELP or TYPE gauge before it"));
        }
        // A family's samples are one run of lines.
        if current.as_deref() != Some(name) {
            if let Some(previous) = current.replace(name.to_owned()) {
                finished.insert(previous);
            }
            if finished.contains(name) {
                return Err(format!("'{name}' samples are not grouped"));
            }
        }
        if !seen.insert((name.to_owned(), labels.clone())) {
            return Err(format!("'{name}' {labels:?} twice"));
        }
        samples.push((name.to_owned(), labels, v));
    }
    Ok(samples)
}

fn get(samples: &[Sample], name: &str, status: Option<&str>) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| n == name && l.get("status").map(String::as_str) == status)
        .map(|(_, _, v)| *v)
}

#[test]
fn the_checker_refuses_what_the_format_refuses() {
    let good = "# HELP a_b Help.\n# TYPE a_b gauge\na_b{status=\"x\\\"y\"} 1\n";
    assert_eq!(exposition(good).unwrap()[0].1["status"], "x\"y");
    for bad in [
        "# HELP a_b H.\n# TYPE a_b gauge\na_b 1",
        "# HELP a_b H.\n# TYPE a_b gauge\na_b 1 1700000000000\n",
        "# HELP a_b H.\n# TYPE a_b gauge\n1a 1\n",
        "# HELP a_b H.\n# TYPE a_b gauge\na_b{1x=\"y\"} 1\n",
        "# HELP a_b H.\n# TYPE a_b gauge\na_b{x=\"\\t\"} 1\n",
        "# HELP a_b H.\n# TYPE a_b gauge\na_b one\n",
        "a_b 1\n",
        "# HELP a_b H.\n# TYPE a_b gauge\na_b 1\n# TYPE a_b gauge\n",
        "# HELP a H.\n# TYPE a gauge\n# HELP b H.\n# TYPE b gauge\na{s=\"1\"} 1\nb 1\na{s=\"2\"} 1\n",
        "# HELP a_b H.\n# TYPE a_b gauge\na_b 1\na_b 2\n",
    ] {
        assert!(exposition(bad).is_err(), "{bad}");
    }
}

fn values() -> Values {
    let mut rows = Rows::default();
    rows[Status::Created as usize] = 1200;
    rows[Status::Failed as usize] = 3;
    rows[Status::Invalid as usize] = 17;
    Values {
        rows,
        done_earlier: 40,
        rows_in_files: 2000,
        tally: Tally {
            sent: 1250,
            retries: 47,
            http_429: 12,
        },
        elapsed_seconds: 312.5,
        running: false,
        exit_code: Some(3),
        last_success: Some(1_796_000_000),
    }
}

#[test]
fn the_file_is_the_text_exposition_format_with_every_figure() {
    let text = render(&values());
    let samples = exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(samples.iter().all(|(n, _, _)| n.starts_with(PREFIX)));
    let g = |name: &str| get(&samples, &format!("{PREFIX}{name}"), None);
    let rows = |status| get(&samples, "cartevo_enroll_rows", Some(status));
    assert_eq!(rows("created"), Some(1200.0));
    assert_eq!(rows("failed"), Some(3.0));
    assert_eq!(rows("invalid"), Some(17.0));
    assert_eq!(rows("pending"), Some(0.0), "every status, zeros too");
    assert_eq!(rows("valid"), None, "validate's status is not a run's");
    assert_eq!(g("rows_done_earlier"), Some(40.0));
    assert_eq!(g("rows_in_files"), Some(2000.0));
    assert_eq!(g("requests"), Some(1250.0));
    assert_eq!(g("retries"), Some(47.0));
    assert_eq!(g("http_429"), Some(12.0));
    assert_eq!(g("elapsed_seconds"), Some(312.5));
    assert_eq!(g("running"), Some(0.0));
    assert_eq!(g("exit_code"), Some(3.0));
    assert_eq!(g("last_success_timestamp_seconds"), Some(1_796_000_000.0));
    assert_eq!(last_success(&text), Some(1_796_000_000));

    // While running: no exit code yet; without a success ever, no success time.
    let running = Values {
        running: true,
        exit_code: None,
        last_success: None,
        ..values()
    };
    let samples = exposition(&render(&running)).unwrap();
    assert_eq!(get(&samples, "cartevo_enroll_running", None), Some(1.0));
    assert_eq!(get(&samples, "cartevo_enroll_exit_code", None), None);
    assert_eq!(
        get(
            &samples,
            "cartevo_enroll_last_success_timestamp_seconds",
            None
        ),
        None
    );
}

fn snapshot(created: u64, earlier: u64, total: u64) -> Snapshot {
    let mut counts = Status::ALL.map(|s| (s, 0));
    counts[Status::Created as usize].1 = created;
    Snapshot {
        done: created + earlier,
        total,
        counts,
        earlier,
        rate: Some(5.0),
        eta: None,
        elapsed: Duration::from_secs(1),
        paced: None,
    }
}

fn read(path: &Path) -> Vec<Sample> {
    exposition(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_last_success_survives_a_failing_run_and_files_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cartevo.prom");
    let before = chrono::Utc::now().timestamp();

    let first = Metrics::start(&path).unwrap();
    // Readable by node_exporter's own user: the figures hold no personal data.
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let samples = read(&path);
    assert_eq!(get(&samples, "cartevo_enroll_running", None), Some(1.0));
    first.progress(
        &snapshot(7, 3, 10),
        Tally {
            sent: 9,
            retries: 2,
            http_429: 1,
        },
    );
    let samples = read(&path);
    assert_eq!(
        get(&samples, "cartevo_enroll_rows", Some("created")),
        Some(7.0)
    );
    assert_eq!(
        get(&samples, "cartevo_enroll_rows_done_earlier", None),
        Some(3.0)
    );
    assert_eq!(get(&samples, "cartevo_enroll_requests", None), Some(9.0));
    let mut counts = Counts::default();
    for _ in 0..10 {
        counts.add(Status::Created);
    }
    let tally = Tally {
        sent: 10,
        retries: 2,
        http_429: 1,
    };
    first.file_done(&counts, 10, tally);
    // A second file, half-way.
    first.progress(&snapshot(2, 0, 5), Tally::default());
    let samples = read(&path);
    assert_eq!(
        get(&samples, "cartevo_enroll_rows", Some("created")),
        Some(12.0)
    );
    assert_eq!(
        get(&samples, "cartevo_enroll_rows_done_earlier", None),
        Some(0.0)
    );
    assert_eq!(
        get(&samples, "cartevo_enroll_rows_in_files", None),
        Some(15.0)
    );
    assert_eq!(get(&samples, "cartevo_enroll_requests", None), Some(10.0));
    first.finish(Exit::Done).unwrap();
    let samples = read(&path);
    assert_eq!(get(&samples, "cartevo_enroll_exit_code", None), Some(0.0));
    assert_eq!(get(&samples, "cartevo_enroll_running", None), Some(0.0));
    let success = get(
        &samples,
        "cartevo_enroll_last_success_timestamp_seconds",
        None,
    )
    .unwrap();
    assert!(success >= before as f64 && success <= chrono::Utc::now().timestamp() as f64);

    let second = Metrics::start(&path).unwrap();
    let samples = read(&path);
    assert_eq!(
        get(&samples, "cartevo_enroll_rows", Some("created")),
        Some(0.0)
    );
    second.finish(Exit::Resume).unwrap();
    let samples = read(&path);
    assert_eq!(get(&samples, "cartevo_enroll_exit_code", None), Some(3.0));
    assert_eq!(
        get(
            &samples,
            "cartevo_enroll_last_success_timestamp_seconds",
            None
        ),
        Some(success),
        "kept from the run before"
    );
    // Nothing but the file is left in the folder: the temporary file was renamed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_metrics_file_that_cannot_be_written_fails_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let err = Metrics::start(&dir.path().join("missing/m.prom"))
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("--metrics-file"), "{err:#}");
}
