//! Country reference data, built once per process: assigned ISO 3166-1 alpha-2 codes, the
//! names and aliases a partner may write for each, and the telephone facts libphonenumber
//! knows about each region (dial code, national prefix, possible national number lengths).
//!
//! Everything here answers in O(1) without allocating, because it runs for every row; the
//! one exception is [`Country::national_number`], which runs libphonenumber's parser on the
//! numbers that have something to remove.

use std::sync::LazyLock;

use celes::LookupTable;

/// The process-wide table. Building it walks celes' 250 countries and libphonenumber's
/// metadata once (a few milliseconds); rows only index into it.
pub(crate) static COUNTRIES: LazyLock<Countries> = LazyLock::new(Countries::build);

/// Codes celes lists that ISO 3166-1 has not assigned. "XK" (Kosovo) is a user-assigned
/// code that the API's card issuer would not accept as a country.
const NOT_ASSIGNED: &[&str] = &["XK"];

/// Names partners commonly write that celes does not list, as (alpha-2, name). Matched after
/// the same normalisation as every other name (see [`name_key`]). Explicit rather than
/// derived (say, from the words after "Of" in the official name), which would also make
/// "Congo" match the Democratic Republic and "Korea" match the North.
const EXTRA_ALIASES: &[(&str, &str)] = &[
    ("GB", "UK"),
    ("GB", "Britain"),
    ("GB", "Great Britain"),
    ("US", "US"),
    ("US", "United States"),
    ("CI", "Ivory Coast"),
    ("CI", "Côte d'Ivoire"),
    ("CD", "DRC"),
    ("CD", "DR Congo"),
    ("CD", "Congo-Kinshasa"),
    ("CD", "Democratic Republic of Congo"),
    ("CG", "Republic of the Congo"),
    ("CG", "Republic of Congo"),
    ("CG", "Congo-Brazzaville"),
    ("KR", "Korea"),
    ("KR", "South Korea"),
    ("KP", "North Korea"),
    ("VN", "Viet Nam"),
    ("LA", "Laos"),
    ("RU", "Russia"),
    ("SY", "Syria"),
    ("TZ", "Tanzania"),
    ("CV", "Cape Verde"),
    ("SZ", "Swaziland"),
    ("CZ", "Czech Republic"),
    ("TR", "Turkey"),
    ("MK", "Macedonia"),
    ("VA", "Vatican"),
    ("PS", "Palestine"),
    ("BO", "Bolivia"),
    ("VE", "Venezuela"),
    ("IR", "Iran"),
    ("MD", "Moldova"),
    ("FM", "Micronesia"),
    ("BN", "Brunei"),
    ("TL", "East Timor"),
    ("NL", "Holland"),
    ("AE", "UAE"),
];

/// The longest normalised name we keep; a longer cell cannot match any name.
const MAX_KEY: usize = 64;

pub(crate) struct Countries {
    /// Indexed by [`slot`] of the upper-case alpha-2 code; `None` for unassigned codes.
    by_code: Vec<Option<Country>>,
}

pub(crate) struct Country {
    /// Normalised names and aliases ([`name_key`]).
    names: Vec<Box<str>>,
    /// libphonenumber's data for the region, absent for a few territories it does not cover
    /// (Antarctica, Bouvet Island, ...): then no telephone warning is given.
    phone: Option<PhoneFacts>,
}

struct PhoneFacts {
    /// The region as the `phonenumber` parser names it.
    id: phonenumber::country::Id,
    dial_code: u16,
    /// `dial_code` in decimal, as it follows a "+" or "00".
    dial_digits: Box<str>,
    /// Bit n set when a national significant number of n digits is possible.
    lengths: u64,
    national_prefix: Option<Box<str>>,
}

/// 26×26 slots, one per two-letter code.
fn slot(code: &[u8; 2]) -> usize {
    (code[0] - b'A') as usize * 26 + (code[1] - b'A') as usize
}

impl Countries {
    fn build() -> Self {
        let mut by_code: Vec<Option<Country>> = (0..26 * 26).map(|_| None).collect();
        for c in celes::Country::get_countries() {
            if NOT_ASSIGNED.contains(&c.alpha2) {
                continue;
            }
            let code: [u8; 2] = c
                .alpha2
                .as_bytes()
                .try_into()
                .expect("alpha-2 is two bytes");
            let entry = by_code[slot(&code)].get_or_insert_with(|| Country {
                names: Vec::new(),
                phone: phone_facts(c.alpha2),
            });
            entry.add_name(c.long_name);
            entry.add_name(c.alpha3);
            for alias in c.aliases.iter() {
                entry.add_name(alias);
            }
        }
        for (code, name) in EXTRA_ALIASES {
            let code: [u8; 2] = code.as_bytes().try_into().expect("alpha-2 is two bytes");
            if let Some(entry) = by_code[slot(&code)].as_mut() {
                entry.add_name(name);
            }
        }
        Countries { by_code }
    }

    /// The country of an alpha-2 code in any letter case, with the code upper-cased; `None`
    /// when the code is not an assigned ISO 3166-1 alpha-2 code.
    pub(crate) fn get(&self, code: &str) -> Option<([u8; 2], &Country)> {
        let bytes: [u8; 2] = code.as_bytes().try_into().ok()?;
        if !bytes.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        let upper = bytes.map(|b| b.to_ascii_uppercase());
        self.by_code[slot(&upper)].as_ref().map(|c| (upper, c))
    }
}

impl Country {
    fn add_name(&mut self, name: &str) {
        let mut buf = [0u8; MAX_KEY];
        if let Some(key) = name_key(name, &mut buf)
            && !key.is_empty()
            && !self.names.iter().any(|n| &**n == key)
        {
            self.names.push(key.into());
        }
    }

    /// Whether `name` is this country's name or a common alias, ignoring case, accents,
    /// spaces, punctuation and a leading "The".
    pub(crate) fn has_name(&self, name: &str) -> bool {
        let mut buf = [0u8; MAX_KEY];
        match name_key(name, &mut buf) {
            Some(key) => self.names.iter().any(|n| &**n == key),
            None => false,
        }
    }

    /// `None` when libphonenumber does not know the region (nothing to compare against).
    pub(crate) fn dial_code_matches(&self, dial_code: u16) -> Option<bool> {
        self.phone.as_ref().map(|p| p.dial_code == dial_code)
    }

    /// Whether `number` (spaces and dashes ignored) is all digits and has a length the
    /// region's numbers can have, with or without the national trunk prefix ("0" in most
    /// of Europe and Africa). `None` when libphonenumber does not know the region.
    ///
    /// A length check against the metadata, not a full parse: the full per-type regexes
    /// would cost more than the rest of the row together.
    pub(crate) fn phone_plausible(&self, number: &str) -> Option<bool> {
        let facts = self.phone.as_ref()?;
        let mut digits = 0usize;
        let mut prefix_matched = 0usize;
        let prefix = facts.national_prefix.as_deref().unwrap_or("").as_bytes();
        for b in number.bytes() {
            match b {
                b' ' | b'-' => {}
                b'0'..=b'9' => {
                    if prefix_matched == digits && digits < prefix.len() && prefix[digits] == b {
                        prefix_matched += 1;
                    }
                    digits += 1;
                }
                _ => return Some(false),
            }
        }
        let fits = |n: usize| n < 64 && facts.lengths & (1u64 << n) != 0;
        let with_prefix = !prefix.is_empty() && prefix_matched == prefix.len();
        Some(fits(digits) || (with_prefix && fits(digits - prefix.len())))
    }

    /// The national significant number of `number`, when something has to be removed to
    /// get it and libphonenumber's parser, reading the number for this region, agrees: the
    /// formatting (spaces, dashes, dots, brackets), a leading "+" or "00" followed by
    /// `dial_code`, and the region's national trunk prefix ("0" of "0801...").
    ///
    /// `None` leaves the number as written: nothing to remove; `dial_code` not this
    /// region's; a region libphonenumber does not know; another character (a letter, an
    /// extension); another country's code after "+" or "00"; or a parse that does not
    /// come to exactly these removals (an error, a bare country code without "+", a
    /// rewritten number as in Argentina) or to a length the region's numbers cannot have.
    pub(crate) fn national_number(&self, number: &str, dial_code: u16) -> Option<National<'_>> {
        let facts = self.phone.as_ref().filter(|f| f.dial_code == dial_code)?;
        let (plus, body) = match number.as_bytes() {
            [b'+', rest @ ..] => (true, rest),
            bytes => (false, bytes),
        };
        // No national significant number has more than 17 digits; with "00" and a
        // three-digit code that is 22.
        let mut buf = [0u8; 24];
        let mut len = 0;
        let mut formatting = false;
        for &b in body {
            match b {
                b'0'..=b'9' => {
                    *buf.get_mut(len)? = b;
                    len += 1;
                }
                b' ' | b'-' | b'.' | b'(' | b')' | b'[' | b']' => formatting = true,
                _ => return None,
            }
        }
        let digits = &buf[..len];
        let international = plus || digits.starts_with(b"00");
        let rest = if international {
            let after = if plus { digits } else { &digits[2..] };
            after.strip_prefix(facts.dial_digits.as_bytes())?
        } else {
            digits
        };
        let prefix = facts.national_prefix.as_deref().unwrap_or("");
        let trunk = !prefix.is_empty() && rest.starts_with(prefix.as_bytes());
        if !(international || formatting || trunk) {
            // Digits only, as the region's numbers are written without their trunk prefix:
            // the parser could only take the number as it is or refuse it, and either way
            // it is sent as written. This is most rows, and the parser costs more than the
            // rest of the row together (about 19,000 instructions against 13,000).
            return None;
        }
        let rest = std::str::from_utf8(rest).ok()?;
        let parsed = if international {
            let code = &*facts.dial_digits;
            phonenumber::parse(Some(facts.id), format!("+{code}{rest}"))
        } else {
            phonenumber::parse(Some(facts.id), rest)
        }
        .ok()?;
        let source = parsed.code().source();
        let source_ok = if international {
            source == phonenumber::country::Source::Plus
        } else {
            // `Number` would mean the parser took leading digits for the country code
            // although no "+" or "00" said so: not a removal this function makes.
            source == phonenumber::country::Source::Default
        };
        if !source_ok || parsed.code().value() != dial_code || parsed.extension().is_some() {
            return None;
        }
        let national = parsed.national().to_string();
        let trunk_removed = if national == rest {
            false
        } else if trunk && national == rest[prefix.len()..] {
            true
        } else {
            return None;
        };
        let n = national.len();
        if !(n < 64 && facts.lengths & (1u64 << n) != 0) {
            return None;
        }
        if !(international || formatting || trunk_removed) {
            return None;
        }
        Some(National {
            number: national,
            formatting,
            country_code: international.then_some(dial_code),
            trunk_prefix: trunk_removed.then_some(prefix),
        })
    }
}

/// A phone number brought to its national significant number, and what was removed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct National<'a> {
    /// ASCII digits only.
    pub(crate) number: String,
    /// Spaces, dashes, dots or brackets.
    pub(crate) formatting: bool,
    /// The dial code written after "+" or "00".
    pub(crate) country_code: Option<u16>,
    /// The region's national trunk prefix.
    pub(crate) trunk_prefix: Option<&'a str>,
}

impl std::fmt::Display for National<'_> {
    /// What was removed, for a warning: "formatting, country code +234 and trunk prefix 0".
    /// Never the number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = Vec::with_capacity(3);
        if self.formatting {
            parts.push("formatting".to_owned());
        }
        if let Some(code) = self.country_code {
            parts.push(format!("country code +{code}"));
        }
        if let Some(prefix) = self.trunk_prefix {
            parts.push(format!("trunk prefix {prefix}"));
        }
        match parts.split_last() {
            None => Ok(()),
            Some((last, [])) => f.write_str(last),
            Some((last, rest)) => write!(f, "{} and {last}", rest.join(", ")),
        }
    }
}

fn phone_facts(alpha2: &str) -> Option<PhoneFacts> {
    let meta = phonenumber::metadata::DATABASE.by_id(alpha2)?;
    let d = meta.descriptors();
    let mut lengths = 0u64;
    let descriptors = [
        Some(d.general()),
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ];
    for desc in descriptors.into_iter().flatten() {
        for &n in desc.possible_length() {
            if n < 64 {
                lengths |= 1 << n;
            }
        }
    }
    Some(PhoneFacts {
        id: alpha2.parse().ok()?,
        dial_code: meta.country_code(),
        dial_digits: meta.country_code().to_string().into(),
        lengths,
        national_prefix: meta.national_prefix().map(Into::into),
    })
}

/// Writes the comparison key of a country name into `buf`: letters and digits only, lower
/// case, common Latin accents folded ("Côte d'Ivoire" → "cotedivoire"), "&" read as "and",
/// a leading "the" dropped. `None` when the name holds letters outside that set or is too
/// long to be any country's name.
fn name_key<'b>(name: &str, buf: &'b mut [u8; MAX_KEY]) -> Option<&'b str> {
    let mut len = 0;
    let mut push = |bytes: &[u8]| -> Option<()> {
        let end = len + bytes.len();
        buf.get_mut(len..end)?.copy_from_slice(bytes);
        len = end;
        Some(())
    };
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            push(&[c.to_ascii_lowercase() as u8])?;
        } else if c == '&' {
            push(b"and")?;
        } else if c.is_alphanumeric() {
            push(&[fold_accent(c)?])?;
        }
        // Spaces, apostrophes, dashes, dots, commas, brackets: ignored.
    }
    let key = std::str::from_utf8(&buf[..len]).ok()?;
    Some(
        key.strip_prefix("the")
            .filter(|k| !k.is_empty())
            .unwrap_or(key),
    )
}

/// The base ASCII letter of an accented Latin letter, lower case.
fn fold_accent(c: char) -> Option<u8> {
    let lower = c.to_lowercase().next()?;
    Some(match lower {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => b'a',
        'ç' | 'č' => b'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' => b'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => b'i',
        'ñ' => b'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => b'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' => b'u',
        'ý' | 'ÿ' => b'y',
        'š' => b's',
        'ž' => b'z',
        _ => return None,
    })
}
