//! A partner's profile (`--profile FILE`): how one partner's files are read, kept in a TOML
//! file beside them instead of retyped as flags on every command.
//!
//! Owns the profile's format and its checks. The whole file is checked when it is loaded,
//! so a typo is an error naming the file, the line and the key before any partner file is
//! opened. What the settings do happens elsewhere: `config` lets the command line's flags
//! win over the profile's, `map_columns` accepts the `[columns]` headers, and
//! `RowView::get` turns the `[values.<field>]` words into ours through [`Mapping`].

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::{Field, Reading, closest_field, field_named, normalise};
use crate::customer::DocumentType;
use crate::text;
use crate::validate::DateFormat;

/// A partner's reading settings, checked. Every one is optional: the command's flags, then
/// the defaults, fill in the rest.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub delimiter: Option<u8>,
    pub encoding: Option<&'static encoding_rs::Encoding>,
    pub date_format: Option<DateFormat>,
    pub sheet: Option<String>,
    /// Already joined to the profile's own folder when the profile gives a relative path.
    pub documents_dir: Option<PathBuf>,
    /// The `[columns]` and `[values.<field>]` tables; `None` when the profile has neither.
    pub mapping: Option<Arc<Mapping>>,
}

/// What a partner calls our columns and our values: the profile's `[columns]` and
/// `[values.<field>]` tables, checked. Shared behind an `Arc` by every reader of a command.
#[derive(Debug, Default)]
pub struct Mapping {
    /// Each header a partner uses for one of our fields.
    headers: Vec<Alias>,
    /// Per field (at [`Field::index`]): the partner's word, cleaned and lower-cased (see
    /// [`fold`]), and our word it stands for, cleaned.
    values: [Option<HashMap<String, String>>; Field::ALL.len()],
}

#[derive(Debug)]
struct Alias {
    /// As headers are matched ([`normalise`]).
    normalised: String,
    field: Field,
    /// As the profile writes it, for messages.
    written: String,
    /// Where the profile lists it.
    line: usize,
}

impl Mapping {
    /// The field a header names through the profile, its header normalised.
    pub(super) fn field_of(&self, normalised: &str) -> Option<Field> {
        self.headers
            .iter()
            .find(|a| a.normalised == normalised)
            .map(|a| a.field)
    }

    /// The headers the profile gives for `field`, as it writes them.
    pub(super) fn aliases(&self, field: Field) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |a| a.field == field)
            .map(|a| a.written.as_str())
    }

    /// Whether any field has a `[values.<field>]` table.
    pub(super) fn has_values(&self) -> bool {
        self.values.iter().any(Option::is_some)
    }

    /// `value` (already cleaned) as we write it: our word when it is one of the partner's
    /// words for `field`, whatever its letter case; else `value` itself.
    pub(super) fn word<'a>(&'a self, field: Field, value: Cow<'a, str>) -> Cow<'a, str> {
        let Some(words) = &self.values[field.index()] else {
            return value;
        };
        let ours = words.get(fold(&value).as_ref()).map(String::as_str);
        match ours {
            Some(ours) => Cow::Borrowed(ours),
            None => value,
        }
    }
}

/// A word as value maps compare it: lower-cased (Unicode's simple rule, so "É" is "é").
/// Borrows when there is nothing to lower, which is most values.
fn fold(word: &str) -> Cow<'_, str> {
    if word.is_ascii() && !word.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(word.to_lowercase())
    }
}

/// A profile that cannot be used. Each message names the file and, when the problem is at
/// a place in it, the line.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("could not read profile '{path}'")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("profile '{path}'{}: {problem}", at_line(*.line))]
    Bad {
        path: String,
        line: Option<usize>,
        problem: String,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

/// The profile's keys, in the order the documentation gives them.
const KEYS: [&str; 7] = [
    "delimiter",
    "encoding",
    "date_format",
    "sheet",
    "documents_dir",
    "columns",
    "values",
];

/// The file as written; everything is checked after.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    delimiter: Option<Spanned<String>>,
    encoding: Option<Spanned<String>>,
    date_format: Option<Spanned<String>>,
    sheet: Option<String>,
    documents_dir: Option<Spanned<String>>,
    #[serde(default)]
    columns: BTreeMap<Spanned<String>, Spanned<Words>>,
    #[serde(default)]
    values: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<Words>>>,
}

/// One text or a list of texts: `first_name = "Prénom"` or `["Prénom", "Given name"]`.
struct Words(Vec<String>);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Words, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Words;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text or a list of texts")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Words, E> {
                Ok(Words(vec![s.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Words, A::Error> {
                let mut words = Vec::new();
                while let Some(word) = seq.next_element::<String>()? {
                    words.push(word);
                }
                Ok(Words(words))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Profile {
    /// Reads and checks the profile at `path`.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Profile::parse(&text, path)
    }

    /// Checks the profile `text`, read from `path` (named in messages; a relative
    /// `documents_dir` is taken from its folder).
    pub fn parse(text: &str, path: &Path) -> Result<Profile, ProfileError> {
        // Notepad's byte-order mark is no TOML.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let check = Check {
            text,
            path: path.display().to_string(),
        };
        let raw: Raw = toml::from_str(text).map_err(|e| check.toml(&e))?;
        let delimiter = check.setting(&raw.delimiter, "delimiter", crate::cli::parse_delimiter)?;
        let encoding = check.setting(&raw.encoding, "encoding", crate::cli::parse_encoding)?;
        let date_format = check.setting(&raw.date_format, "date_format", DateFormat::parse)?;
        let documents_dir = match &raw.documents_dir {
            Some(dir) if dir.get_ref().trim().is_empty() => {
                return Err(check.bad(
                    dir.span(),
                    "documents_dir: give a folder (relative to the profile's)".into(),
                ));
            }
            Some(dir) => Some(path.parent().unwrap_or(Path::new("")).join(dir.get_ref())),
            None => None,
        };
        let mut mapping = Mapping::default();
        check.columns(raw.columns, &mut mapping)?;
        check.values(raw.values, &mut mapping)?;
        let mapping =
            (!mapping.headers.is_empty() || mapping.has_values()).then(|| Arc::new(mapping));
        Ok(Profile {
            delimiter,
            encoding,
            date_format,
            sheet: raw.sheet,
            documents_dir,
            mapping,
        })
    }

    /// How files are read with this profile and no flags.
    pub fn reading(&self) -> Reading {
        Reading {
            delimiter: self.delimiter.unwrap_or(b','),
            encoding: self.encoding,
            sheet: self.sheet.clone(),
            mapping: self.mapping.clone(),
        }
    }
}

/// The profile being checked: its text, for lines, and its name, for messages.
struct Check<'t> {
    text: &'t str,
    path: String,
}

impl Check<'_> {
    fn bad(&self, span: Range<usize>, problem: String) -> ProfileError {
        ProfileError::Bad {
            path: self.path.clone(),
            line: Some(self.line(span)),
            problem,
        }
    }

    /// A setting read by the parser its flag uses, whose message then names the key.
    fn setting<T>(
        &self,
        value: &Option<Spanned<String>>,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ProfileError> {
        value
            .as_ref()
            .map(|v| {
                parse(v.get_ref())
                    .map_err(|problem| self.bad(v.span(), format!("{key}: {problem}")))
            })
            .transpose()
    }

    fn line(&self, span: Range<usize>) -> usize {
        let start = span.start.min(self.text.len());
        self.text.as_bytes()[..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// A TOML or type error, on one line. An unknown key (refused by `deny_unknown_fields`)
    /// is named with the known key it most likely meant.
    fn toml(&self, e: &toml::de::Error) -> ProfileError {
        let key = e
            .span()
            .and_then(|span| self.text.get(span))
            .map(|key| key.trim().trim_matches(['"', '\'']));
        let problem = match key {
            Some(key) if e.message().starts_with("unknown field") => {
                match text::closest(key, KEYS.iter().copied()) {
                    Some(known) => format!("unknown key '{key}' (did you mean '{known}'?)"),
                    None => format!("unknown key '{key}': the keys are {}", KEYS.join(", ")),
                }
            }
            _ => {
                let message = e.message().trim_end().replace('\n', "; ");
                match e.span().and_then(|span| self.key_at(span)) {
                    Some(key) => format!("{key}: {message}"),
                    None => message,
                }
            }
        };
        ProfileError::Bad {
            path: self.path.clone(),
            line: e.span().map(|span| self.line(span)),
            problem,
        }
    }

    /// What the line at `span` sets, for a message on its value: the key before its `=`, or
    /// the `[table]` it opens.
    fn key_at(&self, span: Range<usize>) -> Option<&str> {
        let start = self.text[..span.start.min(self.text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line = self.text[start..].lines().next()?.trim();
        if line.starts_with('[') {
            return Some(line);
        }
        line.split_once('=')
            .map(|(key, _)| key.trim())
            .filter(|key| !key.is_empty() && !key.starts_with('#'))
    }

    /// The field a `[columns]` key or a `[values.<field>]` table names.
    fn field(&self, key: &Spanned<String>, table: &str) -> Result<Field, ProfileError> {
        let name = key.get_ref();
        if let Some(field) = Field::ALL.into_iter().find(|f| f.name() == name) {
            return Ok(field);
        }
        let problem = match closest_field(name) {
            Some(field) => format!("{table}: unknown field '{name}' (did you mean '{field}'?)"),
            None => format!(
                "{table}: unknown field '{name}': the fields are {}",
                Field::ALL.map(Field::name).join(", ")
            ),
        };
        Err(self.bad(key.span(), problem))
    }

    /// `[columns]`: each field's headers, none given for two fields nor named like another
    /// field, since either would make a column mean two things.
    fn columns(
        &self,
        columns: BTreeMap<Spanned<String>, Spanned<Words>>,
        mapping: &mut Mapping,
    ) -> Result<(), ProfileError> {
        for (key, headers) in in_file_order(columns) {
            let field = self.field(&key, "[columns]")?;
            let line = self.line(headers.span());
            for header in &headers.get_ref().0 {
                let normalised = normalise(header);
                let shown = text::printable(header.trim());
                if normalised.is_empty() {
                    return Err(self.bad(
                        headers.span(),
                        format!("[columns] {field}: a header cannot be empty"),
                    ));
                }
                if let Some(other) = field_named(&normalised).filter(|f| *f != field) {
                    return Err(self.bad(
                        headers.span(),
                        format!(
                            "[columns] {field}: '{shown}' is the name of the {other} column, \
                             it cannot stand for {field} too"
                        ),
                    ));
                }
                match mapping.headers.iter().find(|a| a.normalised == normalised) {
                    Some(earlier) if earlier.field != field => {
                        return Err(self.bad(
                            headers.span(),
                            format!(
                                "[columns] column mapped twice: '{shown}' is given for {field} \
                                 and for {} (line {})",
                                earlier.field, earlier.line
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => mapping.headers.push(Alias {
                        normalised,
                        field,
                        written: shown.into_owned(),
                        line,
                    }),
                }
            }
        }
        Ok(())
    }

    /// `[values.<field>]`: our word = the partner's words. A partner's word stands for one
    /// of our words only, and a document type's word is one the API knows.
    fn values(
        &self,
        values: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<Words>>>,
        mapping: &mut Mapping,
    ) -> Result<(), ProfileError> {
        for (key, table) in in_file_order(values) {
            let field = self.field(&key, "[values]")?;
            let here = format!("[values.{field}]");
            if matches!(field, Field::IdDocumentFront | Field::IdDocumentBack) {
                return Err(self.bad(
                    key.span(),
                    format!(
                        "{here}: {field} is a file path, read exactly as written: its values \
                         cannot be mapped"
                    ),
                ));
            }
            let mut words: HashMap<String, String> = HashMap::new();
            let mut lines: HashMap<String, usize> = HashMap::new();
            let mut ours_all = Vec::new();
            for (ours_key, theirs) in in_file_order(table) {
                let ours = text::clean(ours_key.get_ref()).into_owned();
                let ours = if ours.is_empty() {
                    return Err(
                        self.bad(ours_key.span(), format!("{here}: our word cannot be empty"))
                    );
                } else if field == Field::IdDocumentType {
                    match DocumentType::parse(&ours) {
                        Some(t) => t.as_str().to_owned(),
                        None => {
                            return Err(self.bad(
                                ours_key.span(),
                                format!(
                                    "{here}: '{}' is not a document type: give NIN, PASSPORT, \
                                     VOTERS_CARD or DRIVERS_LICENSE",
                                    text::printable(&ours)
                                ),
                            ));
                        }
                    }
                } else {
                    ours
                };
                let line = self.line(theirs.span());
                for word in &theirs.get_ref().0 {
                    let cleaned = text::clean(word);
                    let folded = fold(&cleaned).into_owned();
                    if folded.is_empty() {
                        return Err(self.bad(
                            theirs.span(),
                            format!("{here} {ours}: a word cannot be empty"),
                        ));
                    }
                    match words.get(&folded) {
                        Some(earlier) if *earlier != ours => {
                            return Err(self.bad(
                                theirs.span(),
                                format!(
                                    "{here}: '{}' is listed under {earlier} (line {}) and under \
                                     {ours}",
                                    text::printable(&cleaned),
                                    lines[&folded]
                                ),
                            ));
                        }
                        Some(_) => {}
                        None => {
                            words.insert(folded.clone(), ours.clone());
                            lines.insert(folded, line);
                        }
                    }
                }
                ours_all.push((ours, ours_key.span()));
            }
            // One of our words listed as a partner's word for another: a cell holding it
            // would mean both.
            for (ours, span) in ours_all {
                if let Some(other) = words.get(fold(&ours).as_ref()).filter(|o| **o != ours) {
                    return Err(self.bad(
                        span,
                        format!(
                            "{here}: '{ours}' is one of our words and is also listed under {other}"
                        ),
                    ));
                }
            }
            mapping.values[field.index()] = Some(words);
        }
        Ok(())
    }
}

/// A table's entries in the order the file writes them (messages then name the later of
/// two clashing entries, as a reader meets them).
fn in_file_order<V>(table: BTreeMap<Spanned<String>, V>) -> Vec<(Spanned<String>, V)> {
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

#[cfg(test)]
mod tests;
