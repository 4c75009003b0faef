//! Arbitrary bytes as a partner file, read as `run` reads it with every record through the
//! validator; and the same bytes cut into the fields of one row. Any panic is a bug: a row,
//! however strange, must get a verdict, and a file a verdict or an error naming its line.
#![no_main]

use std::io::Write;
use std::sync::LazyLock;

use cartevo_enroll::internals::{
    Checked, ColumnMap, CsvInput, Field, Reading, RowView, Rules, Validator,
};
use libfuzzer_sys::fuzz_target;

static DOCS: LazyLock<std::path::PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("cartevo-fuzz-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("front.jpg"), b"\xff\xd8\xff\xe0\x00\x10JFIF\x00").unwrap();
    dir
});

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    Validator::new(Rules {
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        documents_dir: DOCS.clone(),
        strict: false,
            date_format: None,
            keep_phone_format: false,
    })
    .unwrap()
});

fn verdict(view: &RowView<'_>) {
    if let Checked::Invalid { errors, .. } = VALIDATOR.check(view) {
        assert!(!errors.is_empty(), "an invalid row names what is wrong");
    }
}

fuzz_target!(|data: &[u8]| {
    // One row: the bytes, as text, cut at 0x1f into the fields in their usual order.
    let text = String::from_utf8_lossy(data);
    let cells: Vec<&str> = text.split('\u{1f}').take(Field::ALL.len()).collect();
    let columns = ColumnMap::from_fields(&Field::ALL[..cells.len()]);
    let record = csv::StringRecord::from(cells);
    verdict(&RowView::new(&columns, &record));

    // A whole file.
    let path = DOCS.join("input.csv");
    std::fs::File::create(&path).unwrap().write_all(data).unwrap();
    let delimiter = data.first().copied().filter(|b| b",;\t|".contains(b)).unwrap_or(b',');
    let Ok(mut input) = CsvInput::open(&path, &Reading::csv(delimiter)) else {
        return;
    };
    let columns = input.columns.clone();
    while let Ok(Some(cartevo_enroll::internals::Record { fields: record, .. })) = input.next_record() {
        verdict(&RowView::new(&columns, record));
    }
});
