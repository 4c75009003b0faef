//! Speed of `validate` end to end, on a generated file of valid, distinct URL-document rows.
//!
//! ```sh
//! cargo run --release --example bench_validate -- [ROWS] [national|written] [keep] [forms]
//! ```
//!
//! ROWS defaults to 1,000,000. The words after it, in any order:
//! - `national` (the default) or `written`: how the phone numbers are written: digits only, or
//!   as partners write them ("+234 803 123 4567", "0803-123-4567" where the country has a
//!   trunk prefix, "677 12 34 56" where it has none).
//! - `keep`: validate as `--keep-phone-format` does: numbers as written, no parser.
//! - `forms`: the same rows are then validated end to end as a partner's other forms would
//!   send them: Windows-1252 (`--encoding windows-1252`), gzip, UTF-16LE with a byte-order
//!   mark, and an .xlsx workbook (of at most 200,000 rows, its dates as date cells), each
//!   beside the UTF-8 file measured in the same run.
//!
//! Prints rows/s and peak RSS (VmHWM, reset before each phase through /proc/self/clear_refs)
//! for: the input scan alone, parsing plus row validation, parsing plus planning (validation
//! and in-file dedupe), and `validate_file` (all of that plus writing the report). The
//! differences between the phases say where the time goes.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use cartevo_enroll::internals::{
    Checked, CsvInput, Decision, InputSettings, Planner, Reading, Record, RowView, Rules, Validator,
};

/// (country, iso, dial code, a national number to vary, city, state, postal code, id type)
type Place = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const COUNTRIES: &[Place] = &[
    (
        "Nigeria",
        "NG",
        "+234",
        "8031234567",
        "Lagos",
        "Lagos State",
        "101233",
        "NIN",
    ),
    (
        "Cameroon",
        "CM",
        "+237",
        "677123456",
        "Yaoundé",
        "Centre",
        "00237",
        "NIN",
    ),
    (
        "Ghana",
        "GH",
        "+233",
        "244123456",
        "Accra",
        "Greater Accra",
        "GA-039",
        "PASSPORT",
    ),
    (
        "Côte d'Ivoire",
        "CI",
        "+225",
        "0707123456",
        "Abidjan",
        "Lagunes",
        "01 BP 1234",
        "DRIVERS_LICENSE",
    ),
    (
        "Senegal",
        "SN",
        "+221",
        "771234567",
        "Dakar",
        "Dakar",
        "10700",
        "VOTERS_CARD",
    ),
    (
        "Kenya",
        "KE",
        "+254",
        "712345678",
        "Nairobi",
        "Nairobi County",
        "00100",
        "NIN",
    ),
    (
        "South Africa",
        "ZA",
        "+27",
        "821234567",
        "Cape Town",
        "Western Cape",
        "8001",
        "DRIVERS_LICENSE",
    ),
    (
        "Uganda",
        "UG",
        "+256",
        "772123456",
        "Kampala",
        "Central",
        "256",
        "PASSPORT",
    ),
    (
        "France",
        "FR",
        "+33",
        "612345678",
        "Paris",
        "Île-de-France",
        "75001",
        "PASSPORT",
    ),
    (
        "United States",
        "US",
        "+1",
        "2025550143",
        "Springfield",
        "Illinois",
        "62701",
        "DRIVERS_LICENSE",
    ),
];

const FIRST: &[&str] = &[
    "Amina",
    "Jean-Paul",
    "Kofi",
    "Lucie",
    "Moussa",
    "Wanjiru",
    "Zoë",
    "Chinedu",
    "Aïcha",
    "Thandiwe",
];
const LAST: &[&str] = &[
    "Okafor", "Mbarga", "Mensah", "Kouassi", "Diop", "Kamau", "Traoré", "Dlamini", "Achieng", "Eze",
];

const HEADER: &str = "reference,first_name,last_name,email,country,street,city,state,postal_code,\
country_iso_code,country_phone_code,phone_number,identification_number,id_document_type,\
date_of_birth,id_document_front_url,id_document_back_url\n";

/// How the generated file writes its phone numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phones {
    /// Digits only, the national significant number.
    National,
    /// With spaces, dashes, the dial code or the trunk prefix, in turn.
    Written,
}

/// `number` as a partner may write it, one of three forms chosen by `i`.
fn written(i: u64, dial: &str, iso: &str, number: &str) -> String {
    let (head, tail) = number.split_at(3);
    match i % 3 {
        0 => format!("{dial} {head} {tail}"),
        // Trunk prefix 0 in the national form where the country has one.
        1 if matches!(iso, "NG" | "GH" | "KE" | "ZA" | "UG" | "FR") => format!("0{head}-{tail}"),
        _ => format!("{head} {tail}"),
    }
}

fn generate(path: &Path, rows: u64, phones: Phones) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all(HEADER.as_bytes())?;
    for i in 0..rows {
        let (country, iso, dial, phone, city, state, postal, doc) =
            COUNTRIES[(i % COUNTRIES.len() as u64) as usize];
        let first = FIRST[(i / 7 % FIRST.len() as u64) as usize];
        let last = LAST[(i / 3 % LAST.len() as u64) as usize];
        // Vary the last digits of the national number, keeping its length.
        let keep = phone.len() - 4;
        let suffix = i % 10_000;
        let number = format!("{}{suffix:04}", &phone[..keep]);
        let number = match phones {
            Phones::National => number,
            Phones::Written => written(i, dial, iso, &number),
        };
        let year = 1950 + i % 55;
        let month = 1 + i % 12;
        let day = 1 + i % 28;
        writeln!(
            out,
            "P-{i:07},{first},{last},{}.{}.{i}@example.com,{country},{} Independence Avenue,\
             {city},{state},{postal},{iso},{dial},{number},{iso}-{i:010},{doc},\
             {year}-{month:02}-{day:02},https://cdn.example.com/kyc/p-{i}/front.jpg,\
             https://cdn.example.com/kyc/p-{i}/back.jpg",
            first.to_lowercase(),
            last.to_lowercase(),
            1 + i % 200,
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Resets VmHWM to the current RSS, so the next reading is the peak of the next phase.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size in KiB (VmHWM).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Time this thread has spent on a CPU (from /proc/thread-self/schedstat, in nanoseconds):
/// rows per CPU-second stay meaningful on a machine shared with other work.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// A phase's wall clock and CPU clock.
struct Clock {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Clock {
    fn start() -> Clock {
        reset_peak();
        Clock {
            wall: Instant::now(),
            cpu: cpu_time(),
        }
    }

    /// Prints the phase's clocks; rates only when `rows` is not 0.
    fn show(&self, phase: &str, rows: u64) {
        let rate = |secs: f64, unit: &str| {
            if rows == 0 {
                String::new()
            } else {
                format!("{:>10.0} {unit}", rows as f64 / secs)
            }
        };
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = match (self.cpu, cpu_time()) {
            (Some(a), Some(b)) => {
                let cpu = (b - a).as_secs_f64();
                format!("cpu {cpu:>7.3} s {:>21}", rate(cpu, "rows/cpu-s"))
            }
            _ => "cpu n/a".to_string(),
        };
        let peak = peak_rss_kib()
            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|| "n/a".to_string());
        println!(
            "{phase:<32} wall {wall:>7.3} s {:>17} | {cpu} | peak RSS {peak}",
            rate(wall, "rows/s")
        );
    }
}

fn rules(dir: &Path, keep_phone_format: bool) -> Rules {
    Rules {
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        documents_dir: dir.to_path_buf(),
        strict: false,
        date_format: None,
        keep_phone_format,
    }
}

/// Removes the benchmark's temporary folder when dropped.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> anyhow::Result<()> {
    let rows: u64 = match std::env::args().nth(1) {
        Some(s) => s.replace(['_', ','], "").parse()?,
        None => 1_000_000,
    };
    let words: Vec<String> = std::env::args().skip(2).collect();
    if let Some(other) = words
        .iter()
        .find(|w| !["national", "written", "keep", "forms"].contains(&w.as_str()))
    {
        anyhow::bail!("'{other}' is none of national, written, keep, forms");
    }
    let has = |word: &str| words.iter().any(|w| w == word);
    let phones = if has("written") {
        Phones::Written
    } else {
        Phones::National
    };
    let keep_phone_format = has("keep");
    // BENCH_DIR keeps the generated files there (to measure the command line's memory on
    // them afterwards); without it they go with a temporary folder.
    let tmp = match std::env::var_os("BENCH_DIR") {
        Some(dir) => tempfile::Builder::new()
            .prefix("bench-")
            .tempdir_in(dir)?
            .keep(),
        None => tempfile::tempdir()?.keep(),
    };
    let _cleanup = (std::env::var_os("BENCH_DIR").is_none()).then(|| Cleanup(tmp.clone()));
    let tmp = tmp.as_path();
    let csv = tmp.join("bench.csv");

    let t = Instant::now();
    let bytes = generate(&csv, rows, phones)?;
    println!(
        "generated {rows} rows, {:.1} MiB, in {:.2} s ({})",
        bytes as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64(),
        csv.display()
    );

    // 1. The input scan alone: CSV parsing, UTF-8 checks and SHA-256.
    let clock = Clock::start();
    let (_sha, scanned) = cartevo_enroll::internals::scan(&csv, &Reading::csv(b','))?;
    clock.show("input::scan", scanned);
    assert_eq!(scanned, rows);

    // The country tables are built once per process, by the first Validator::new.
    let clock = Clock::start();
    let validator = Validator::new(rules(tmp, keep_phone_format))?;
    clock.show("Validator::new (once)", 0);

    // 2. Parsing plus row validation, nothing kept.
    let clock = Clock::start();
    let mut input = CsvInput::open(&csv, &Reading::csv(b','))?;
    let columns = input.columns.clone();
    let mut valid = 0u64;
    while let Some(Record { fields: record, .. }) = input.next_record()? {
        if let Checked::Valid { .. } = validator.check(&RowView::new(&columns, record)) {
            valid += 1;
        }
    }
    clock.show("scan + Validator::check", rows);
    assert_eq!(valid, rows, "every generated row must be valid");

    // 3. Parsing plus planning: validation and in-file dedupe.
    let clock = Clock::start();
    let mut planner = Planner::new(Validator::new(rules(tmp, keep_phone_format))?, None);
    let mut input = CsvInput::open(&csv, &Reading::csv(b','))?;
    let columns = input.columns.clone();
    let mut sent = 0u64;
    while let Some(Record {
        row,
        fields: record,
        ..
    }) = input.next_record()?
    {
        if let Decision::Send(_) = planner.decide(row, &RowView::new(&columns, record))? {
            sent += 1;
        }
    }
    clock.show("scan + Planner::decide", rows);
    assert_eq!(sent, rows, "every generated row must be distinct");
    drop(planner);

    // 4. The whole command: all of the above plus results.csv, rejects.csv, summary.json.
    let input = InputSettings {
        report_dir: None,
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 21),
        documents_dir: None,
        strict: false,
        reading: Reading::default(),
        date_format: None,
        keep_phone_format,
    };
    let report_dir = tmp.join("report");
    let clock = Clock::start();
    let exit = cartevo_enroll::internals::validate_file(&input, &csv, &report_dir)?;
    clock.show("validate_file (end to end)", rows);
    assert_eq!(exit.code(), 0, "validate must find every row valid");

    if has("forms") {
        forms(&csv, rows, tmp, &input)?;
    }
    println!(
        "target: 500000 rows/s on one core; cores online: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}

/// `validate_file` end to end on the same rows in each form a partner may send.
fn forms(csv: &Path, rows: u64, dir: &Path, settings: &InputSettings) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader};
    let cp1252 = dir.join("bench-cp1252.csv");
    let gz = dir.join("bench.csv.gz");
    let utf16 = dir.join("bench-utf16.csv");
    let xlsx = dir.join("bench.xlsx");
    let sheet_rows = rows.min(200_000);
    {
        let mut to_cp1252 = BufWriter::new(std::fs::File::create(&cp1252)?);
        let mut to_gz = flate2::write::GzEncoder::new(
            BufWriter::new(std::fs::File::create(&gz)?),
            flate2::Compression::default(),
        );
        let mut to_utf16 = BufWriter::new(std::fs::File::create(&utf16)?);
        to_utf16.write_all(&[0xff, 0xfe])?;
        for line in BufReader::new(std::fs::File::open(csv)?).split(b'\n') {
            let mut line = line?;
            line.push(b'\n');
            to_gz.write_all(&line)?;
            let text = std::str::from_utf8(&line)?;
            let (bytes, _, lossy) = encoding_rs::WINDOWS_1252.encode(text);
            assert!(!lossy, "every generated character is in Windows-1252");
            to_cp1252.write_all(&bytes)?;
            for unit in text.encode_utf16() {
                to_utf16.write_all(&unit.to_le_bytes())?;
            }
        }
        to_cp1252.flush()?;
        to_gz.finish()?.flush()?;
        to_utf16.flush()?;
    }
    {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        let mut reader = csv::Reader::from_path(csv)?;
        let headers = reader.headers()?.clone();
        let born = headers.iter().position(|h| h == "date_of_birth").unwrap();
        for (c, h) in headers.iter().enumerate() {
            sheet.write_string(0, c as u16, h)?;
        }
        for (r, record) in reader.records().take(sheet_rows as usize).enumerate() {
            for (c, cell) in record?.iter().enumerate() {
                let (r, c) = (r as u32 + 1, c as u16);
                if c as usize == born {
                    let day = rust_xlsxwriter::ExcelDateTime::parse_from_str(cell)?;
                    sheet.write_date_with_format(r, c, &day, &date)?;
                } else {
                    sheet.write_string(r, c, cell)?;
                }
            }
        }
        workbook.save(&xlsx)?;
    }
    let size = |p: &Path| std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / (1 << 20) as f64);
    let forms = [
        ("UTF-8 (the same run)", csv, rows, Reading::default()),
        (
            "Windows-1252",
            &cp1252,
            rows,
            Reading {
                encoding: Some(encoding_rs::WINDOWS_1252),
                ..Reading::default()
            },
        ),
        ("gzip", &gz, rows, Reading::default()),
        ("UTF-16LE, BOM", &utf16, rows, Reading::default()),
        (".xlsx", &xlsx, sheet_rows, Reading::default()),
    ];
    for (name, path, rows, reading) in forms {
        let settings = InputSettings {
            reading,
            ..settings.clone()
        };
        let report = dir.join(format!("report-{}", name.len()));
        let clock = Clock::start();
        let exit = cartevo_enroll::internals::validate_file(&settings, path, &report)?;
        clock.show(&format!("validate {name} ({:.0} MiB)", size(path)), rows);
        assert_eq!(exit.code(), 0, "{name}: validate must find every row valid");
    }
    Ok(())
}
