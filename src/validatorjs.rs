//! The checks Cartevo's server applies to a create request, ported from the library it runs:
//! validator.js 13.15.15, called by class-validator 0.14.2 (`IsEmail()`, `MinLength`,
//! `MaxLength`).
//!
//! A leaf shared by the client's validation and by the sandbox, which stands in for the
//! server: both must give the verdict validator.js gives, and the table test in
//! `validatorjs/tests.rs` holds this port to verdicts produced by validator.js itself.
//!
//! JavaScript strings are UTF-16, and validator.js's regular expressions (no `u` flag) look
//! at code units: a character outside the Basic Multilingual Plane is two surrogate units,
//! which none of the local-part or top-level-label classes admit, and it counts twice in a
//! label's 63-unit limit and in the address's 254-unit limit. The functions below work on
//! `char`s and say where that difference shows.

#[cfg(test)]
mod tests;

/// validator.js `isLength`'s count: Unicode code points, not counting the variation selectors
/// U+FE0E and U+FE0F (13.15.15 subtracts every one of them). `MinLength(n)` and
/// `MaxLength(n)` compare this count.
pub(crate) fn length(value: &str) -> usize {
    if value.is_ascii() {
        return value.len();
    }
    value
        .chars()
        .filter(|&c| !matches!(c, '\u{fe0e}' | '\u{fe0f}'))
        .count()
}

/// validator.js `isEmail(value)` with its default options, as class-validator's `IsEmail()`
/// calls it.
pub(crate) fn is_email(value: &str) -> bool {
    // The whole address: at most 254 UTF-16 code units.
    if utf16_len(value) > 254 {
        return false;
    }
    // The domain is what follows the last '@'; the user part may hold others (quoted).
    let Some((user, domain)) = value.rsplit_once('@') else {
        return false;
    };
    // isByteLength: UTF-8 bytes.
    if user.len() > 64 || domain.len() > 254 {
        return false;
    }
    // No IP literal: allow_ip_domain is off, so a domain that is not an FQDN fails.
    if !is_fqdn(domain) {
        return false;
    }
    // A user part that starts and ends with '"' (a lone '"' does both) is a quoted string.
    if user.starts_with('"') && user.ends_with('"') {
        let inner = &user[1..user.len().max(2) - 1];
        return is_quoted_content(inner);
    }
    // Otherwise dot-separated atoms, none empty.
    user.split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atom_char))
}

/// validator.js `isFQDN` with the options `isEmail` passes (`require_tld`, no underscores,
/// the 63-unit label limit) and its defaults (no trailing dot, no numeric or wildcard TLD).
pub(crate) fn is_fqdn(domain: &str) -> bool {
    if domain.is_ascii() {
        return is_ascii_fqdn(domain.as_bytes());
    }
    let Some((_, tld)) = domain.rsplit_once('.') else {
        // require_tld: at least two labels.
        return false;
    };
    if !is_tld(tld) {
        return false;
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && utf16_len(label) <= 63
            && label.chars().all(is_label_char)
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// [`is_fqdn`] on an ASCII domain, in one pass over its bytes (the common case; the table
/// test runs every ASCII domain of its addresses through both).
fn is_ascii_fqdn(b: &[u8]) -> bool {
    let (mut start, mut labels) = (0, 0);
    for end in b
        .iter()
        .enumerate()
        .filter_map(|(i, &c)| (c == b'.').then_some(i))
        .chain([b.len()])
    {
        let label = &b[start..end];
        let ok = (1..=63).contains(&label.len())
            && label[0] != b'-'
            && label[label.len() - 1] != b'-'
            && label
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-');
        if !ok {
            return false;
        }
        labels += 1;
        start = end + 1;
    }
    // The loop checked every label, the last one too: `start` is now past its end.
    let tld = &b[b.iter().rposition(|&c| c == b'.').map_or(0, |i| i + 1)..];
    labels >= 2
        && ((tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic))
            || (tld.len() >= 4
                && tld[..2].eq_ignore_ascii_case(b"xn")
                && tld[2..]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-')))
}

/// The top-level label: two or more letters (ASCII or from the admitted BMP ranges), or
/// `xn` and two or more ASCII letters, digits or hyphens; no JavaScript whitespace; not all
/// digits (which the first rule already excludes).
fn is_tld(tld: &str) -> bool {
    let letters = tld.chars().count() >= 2 && tld.chars().all(is_tld_letter);
    let punycode = tld.len() >= 4
        && tld.as_bytes()[..2].eq_ignore_ascii_case(b"xn")
        && tld.as_bytes()[2..]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-');
    (letters || punycode) && !tld.chars().any(is_js_whitespace)
}

/// `[a-z\u00A1-\u00A8\u00AA-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF]` with the `i` flag, on one
/// code unit: a character outside the BMP is two surrogates, which the class refuses.
fn is_tld_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || matches!(c, '\u{a1}'..='\u{a8}' | '\u{aa}'..='\u{d7ff}' | '\u{f900}'..='\u{fdcf}' | '\u{fdf0}'..='\u{ffef}')
}

/// A label character: `[a-z_\u00a1-\uffff0-9-]` with the `i` flag, less the underscore
/// (`allow_underscores` is off) and the full-width forms U+FF01–U+FF5E, which isFQDN
/// refuses. Surrogates are inside `\u00a1-\uffff`, so any character outside the BMP passes.
fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '-'
        || (c >= '\u{a1}' && !('\u{ff01}'..='\u{ff5e}').contains(&c))
}

/// `emailUserUtf8Part` (allow_utf8_local_part is on by default): ASCII letters, digits and
/// ``!#$%&'*+-/=?^_`{|}~``, and the BMP ranges U+00A1–U+D7FF, U+F900–U+FDCF,
/// U+FDF0–U+FFEF. Outside the BMP (a surrogate pair) is refused.
fn is_atom_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || is_utf8_range(c)
}

/// The non-ASCII ranges validator.js's local-part classes share.
fn is_utf8_range(c: char) -> bool {
    matches!(c, '\u{a1}'..='\u{d7ff}' | '\u{f900}'..='\u{fdcf}' | '\u{fdf0}'..='\u{ffef}')
}

/// `quotedEmailUserUtf8` on the text between the quotes: a sequence of plain characters
/// (JavaScript whitespace, most ASCII controls, printable ASCII but `"` and `\`, the BMP
/// ranges from U+00A0) and backslash pairs (a backslash then any of U+0001–U+0009,
/// U+000B–U+007F or the BMP ranges). A backslash is never plain, so the reading is unique.
fn is_quoted_content(inner: &str) -> bool {
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        let ok = if c == '\\' {
            chars.next().is_some_and(|e| {
                matches!(e, '\u{1}'..='\u{9}' | '\u{b}'..='\u{7f}')
                    || e == '\u{a0}'
                    || is_utf8_range(e)
            })
        } else {
            is_js_whitespace(c)
                || matches!(c, '\u{1}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}' | '\u{21}' | '\u{23}'..='\u{5b}' | '\u{5d}'..='\u{7e}')
                || c == '\u{a0}'
                || is_utf8_range(c)
        };
        if !ok {
            return false;
        }
    }
    true
}

/// JavaScript's `\s`: the ECMAScript WhiteSpace and LineTerminator characters.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// A JavaScript string's `length`: UTF-16 code units.
fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char::len_utf16).sum()
    }
}
