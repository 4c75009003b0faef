//! What a cell's text becomes before anything looks at it.
//!
//! One rule, applied by `input::RowView::get` to every value: surrounding whitespace and
//! invisible format characters are cut off, and the rest is put in Unicode Normalization
//! Form C. Validation, in-file deduplication, the journal's customer index and the request
//! all see that one form, so "josé" typed with a precomposed é (as Windows and most
//! exports write it) and with e + U+0301 (as macOS writes file names and some exports copy
//! them) is one customer, and its length is the length Cartevo will count.

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// `raw` trimmed of whitespace and format characters at both ends, in NFC. Borrows when
/// nothing changes, which is every ASCII value.
pub(crate) fn clean(raw: &str) -> Cow<'_, str> {
    // The common case, decided on the bytes: printable ASCII at both ends (nothing to cut)
    // and ASCII throughout (nothing to compose).
    let printable = |b: Option<&u8>| b.is_some_and(|b| (0x21..0x7f).contains(b));
    if printable(raw.as_bytes().first()) && printable(raw.as_bytes().last()) && raw.is_ascii() {
        return Cow::Borrowed(raw);
    }
    let trimmed = raw.trim_matches(is_edge_junk);
    if trimmed.is_ascii() || is_nfc_quick(trimmed.chars()) == IsNormalized::Yes {
        return Cow::Borrowed(trimmed);
    }
    let composed: String = trimmed.nfc().collect();
    if composed == trimmed {
        return Cow::Borrowed(trimmed);
    }
    // Composition never creates an edge character, but a singleton decomposition can turn
    // one space into another (U+2000 into U+2002): trim again rather than reason about it.
    match composed.trim_matches(is_edge_junk) {
        same if same.len() == composed.len() => Cow::Owned(composed),
        shorter => Cow::Owned(shorter.to_owned()),
    }
}

/// White space (Unicode's White_Space, as `str::trim` uses) or a format character.
#[inline]
pub(crate) fn is_edge_junk(c: char) -> bool {
    if c.is_ascii() {
        return c.is_whitespace();
    }
    c.is_whitespace() || is_format(c)
}

/// Unicode's format characters (general category Cf, Unicode 17): zero-width space and
/// joiners, direction marks and isolates, the byte-order mark, the soft hyphen, and their
/// like. Invisible in a spreadsheet, so one stuck to a value is an accident of copying, not
/// data. The tag characters U+E0020–U+E007F are left out: they end the subdivision flags
/// (🏴 + tags), and cutting them would change a visible character.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
    )
}

/// The candidate closest to `key`, when one is close enough to be a likely typo (a
/// profile's or a config file's key).
pub(crate) fn closest<'k>(key: &str, candidates: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    let key = key.to_lowercase();
    candidates
        .map(|c| (c, strsim::jaro_winkler(&key, c)))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_only_trimmed_and_borrowed() {
        assert!(matches!(clean("  Ann \t"), Cow::Borrowed("Ann")));
        assert!(matches!(clean("a@b.co"), Cow::Borrowed("a@b.co")));
        assert_eq!(clean(" \r\n "), "");
    }

    #[test]
    fn decomposed_accents_are_composed() {
        assert_eq!(clean("jose\u{301}@x.com"), "jos\u{e9}@x.com");
        assert_eq!(clean("Mu\u{308}ller"), "M\u{fc}ller");
        // Already composed: borrowed as it is.
        assert!(matches!(clean("Jos\u{e9}"), Cow::Borrowed("Jos\u{e9}")));
        // NFC, not NFKC: a full-width letter stays what it is.
        assert_eq!(clean("\u{ff41}"), "\u{ff41}");
    }

    #[test]
    fn format_characters_and_unicode_spaces_at_the_edges_are_cut() {
        assert_eq!(clean("\u{feff}Ann"), "Ann");
        assert_eq!(clean("Ann\u{200b}"), "Ann");
        assert_eq!(clean("\u{200d}\u{a0}Ann\u{3000}\u{2060}"), "Ann");
        assert_eq!(clean("\u{202a}Ann\u{202c}"), "Ann");
        // Inside a value they stay: a joiner inside an emoji or a name is data.
        assert_eq!(
            clean("\u{1f468}\u{200d}\u{1f469}"),
            "\u{1f468}\u{200d}\u{1f469}"
        );
        // A subdivision flag keeps its tag characters.
        let wales = "\u{1f3f4}\u{e0067}\u{e0062}\u{e0077}\u{e006c}\u{e0073}\u{e007f}";
        assert_eq!(clean(wales), wales);
    }

    #[test]
    fn a_decomposed_value_with_junk_around_it_comes_out_clean() {
        assert_eq!(clean("\u{feff} e\u{301}\u{200b}"), "\u{e9}");
        // U+2000 EN QUAD decomposes to U+2002 EN SPACE: still cut.
        assert_eq!(clean("\u{2000}x"), "x");
    }
}

/// Which occurrences of a needle [`replace_whole`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// Every occurrence: for a needle too distinctive to be part of anything else.
    Anywhere,
    /// One not inside a longer run of letters and digits ("Okafor." and "Okafor," are the
    /// name; "Okaforson" is not).
    Word,
    /// One not inside a longer run of letters, digits or token characters (`-_.~+/=%`): a
    /// one-letter secret replaces that letter standing alone, never every letter of a message.
    Token,
}

/// `haystack` with the occurrences of `needle` that `bound` says replaced by `with`.
/// `ignore_case` folds ASCII letters (for email addresses).
pub(crate) fn replace_whole<'a>(
    haystack: &'a str,
    needle: &str,
    with: &str,
    ignore_case: bool,
    bound: Bound,
) -> Cow<'a, str> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return Cow::Borrowed(haystack);
    }
    let lowered;
    let (hay, pin) = if ignore_case {
        lowered = (haystack.to_ascii_lowercase(), needle.to_ascii_lowercase());
        (lowered.0.as_str(), lowered.1.as_str())
    } else {
        (haystack, needle)
    };
    let part_of_token = |c: Option<char>| match bound {
        Bound::Anywhere => false,
        Bound::Word => c.is_some_and(char::is_alphanumeric),
        Bound::Token => c.is_some_and(|c| c.is_alphanumeric() || "-_.~+/=%".contains(c)),
    };
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = hay[from..].find(pin) {
        let start = from + found;
        let end = start + pin.len();
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        if !part_of_token(before) && !part_of_token(after) {
            out.push_str(&haystack[copied..start]);
            out.push_str(with);
            copied = end;
        }
        from = start + hay[start..].chars().next().map_or(1, char::len_utf8);
    }
    if copied == 0 {
        return Cow::Borrowed(haystack);
    }
    out.push_str(&haystack[copied..]);
    Cow::Owned(out)
}

/// `text` safe to print on a terminal: control characters (an ANSI escape's ESC among them)
/// written as `\u{1b}`, so a file's header cannot recolour, move or clear the operator's
/// screen through an error message.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// At most `max` characters of `text`, "…" included when it is cut, on a character
/// boundary.
pub(crate) fn cut(mut text: String, max: usize) -> String {
    if text.char_indices().nth(max).is_some() {
        let keep = text
            .char_indices()
            .nth(max.saturating_sub(1))
            .map_or(text.len(), |(at, _)| at);
        text.truncate(keep);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod replace_tests {
    use super::*;

    #[test]
    fn only_whole_forms_are_replaced() {
        let w = Bound::Word;
        assert_eq!(
            replace_whole("email Ann@X.com exists", "ann@x.com", "<email>", true, w),
            "email <email> exists"
        );
        assert_eq!(
            replace_whole("Annual Ann.", "Ann", "<n>", false, w),
            "Annual <n>."
        );
        // A one-letter secret: the letter alone, not every letter.
        assert_eq!(
            replace_whole("a bad token: a", "a", "[redacted]", false, Bound::Token),
            "[redacted] bad token: [redacted]"
        );
        assert_eq!(
            replace_whole(
                "1991-04-12T00:00:00Z",
                "1991-04-12",
                "<d>",
                false,
                Bound::Anywhere
            ),
            "<d>T00:00:00Z"
        );
        assert!(matches!(
            replace_whole("nothing here", "zzz", "x", false, w),
            Cow::Borrowed(_)
        ));
        assert_eq!(replace_whole("é Ann é", "Ann", "<n>", false, w), "é <n> é");
    }

    #[test]
    fn cutting_keeps_whole_characters() {
        assert_eq!(cut("abcdef".into(), 3), "ab…");
        assert_eq!(cut("ééé".into(), 2), "é…");
        assert_eq!(cut("abc".into(), 3), "abc");
        assert_eq!(cut("x".repeat(1000), 500).chars().count(), 500);
    }
}
