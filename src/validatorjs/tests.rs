//! The port against validator.js's own verdicts.
//!
//! `EMAILS` was produced by running validator.js 13.15.15's `isEmail` and class-validator
//! 0.14.2's `isEmail` (which agreed on every entry) over these addresses with Node.js; the
//! lengths below are what `isLength` measured. `scripts/validatorjs/` regenerates them and
//! runs a randomised comparison (see the README).

use super::*;

/// (address, validator.js `isEmail` verdict).
const EMAILS: &[(&str, bool)] = &[
    ("a@example.com", true),
    ("john.doe@example.com", true),
    ("john+tag@example.co.uk", true),
    ("JOHN@EXAMPLE.COM", true),
    ("user_name@example.org", true),
    ("o'brien@example.ie", true),
    ("x@sub.domain.example.com", true),
    ("1234@example.com", true),
    ("a-b@ex-ample.com", true),
    ("first.last@example.museum", true),
    ("a@b.co", true),
    ("a@b.c", false),
    ("a@b", false),
    ("a@localhost", false),
    ("plainaddress", false),
    ("@example.com", false),
    ("a@", false),
    ("", false),
    ("a@@example.com", false),
    ("a@b@example.com", false),
    ("a..b@example.com", false),
    (".a@example.com", false),
    ("a.@example.com", false),
    ("a b@example.com", false),
    (" a@example.com", false),
    ("a@example.com ", false),
    ("a@exa mple.com", false),
    ("a@example..com", false),
    ("a@.example.com", false),
    ("a@example.com.", false),
    ("a@-example.com", false),
    ("a@example-.com", false),
    ("a@ex_ample.com", false),
    ("a@example.c_m", false),
    ("a@example.123", false),
    ("a@123.com", true),
    ("a@example.c0m", false),
    ("a@example.xn--p1ai", true),
    ("a@xn--e1afmkfd.xn--p1ai", true),
    ("a@example.xn12", true),
    ("a@example.xn", true),
    ("a@example.xn-", false),
    ("a@example.XN--P1AI", true),
    ("a@[127.0.0.1]", false),
    ("a@127.0.0.1", false),
    ("a@[IPv6:::1]", false),
    ("a@[::1]", false),
    ("Ann <ann@example.com>", false),
    ("<ann@example.com>", false),
    ("ann@example.com>", false),
    ("!#$%&'*+-/=?^_`{|}~@example.com", true),
    ("a(b)@example.com", false),
    ("a,b@example.com", false),
    ("a:b@example.com", false),
    ("a;b@example.com", false),
    ("a<b@example.com", false),
    ("a[b]@example.com", false),
    ("a\\b@example.com", false),
    ("a\"b@example.com", false),
    ("\"a b\"@example.com", true),
    ("\"a@b\"@example.com", true),
    ("\"a\\\"b\"@example.com", true),
    ("\"a\\\\b\"@example.com", true),
    ("\"\"@example.com", true),
    ("\"@example.com", true),
    ("\"a\"b\"@example.com", false),
    ("\"a\\\u{a}b\"@example.com", false),
    ("\"a\u{9}b\"@example.com", true),
    ("\"a\u{1}b\"@example.com", true),
    ("\"a\u{0}b\"@example.com", false),
    ("\"a\u{7f}b\"@example.com", true),
    ("\"a\u{85}b\"@example.com", false),
    ("\"josé\"@example.com", true),
    ("\"a\\\"@example.com", false),
    ("\"a.b\"@example.com", true),
    ("\"a..b\"@example.com", true),
    ("\"𝐣\"@example.com", false),
    ("\"a\u{a0}b\"@example.com", true),
    ("\"a\"@example.com", true),
    ("\"a\".\"b\"@example.com", false),
    ("josé@example.com", true),
    ("jose\u{301}@example.com", true),
    ("müller@example.de", true),
    ("иван@example.ru", true),
    ("用户@例子.广告", true),
    ("𝐣𝐨𝐡𝐧@example.com", false),
    ("a\u{a0}b@example.com", false),
    ("a\u{a1}@example.com", true),
    ("a\u{80}@example.com", false),
    ("a\u{9f}@example.com", false),
    ("a\u{e000}@example.com", false),
    ("a豈@example.com", true),
    ("a\u{fdd0}@example.com", false),
    ("aﷰ@example.com", true),
    ("a\u{ffef}@example.com", true),
    ("a\u{fff0}@example.com", false),
    ("a\u{feff}@example.com", true),
    ("a\u{200b}@example.com", true),
    ("ö.ü@example.com", true),
    ("δοκιμή@παράδειγμα.δοκιμή", true),
    ("我買@屋企.香港", true),
    ("θσερ@εχαμπλε.ψομ", true),
    ("χρήστης@παράδειγμα.ελ", true),
    ("उपय\u{94b}गकर\u{94d}त\u{93e}@उद\u{93e}हरण.क\u{949}म", true),
    ("ไทย@ไทย.ไทย", true),
    ("user@例子.中国", true),
    ("a@例子.中国", true),
    ("c@example.भ\u{93e}रत", true),
    ("d@example.comé", true),
    (
        "a@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}.com",
        false,
    ),
    ("a@example.\u{ff43}\u{ff4f}\u{ff4d}", false),
    ("a@example.𝐚𝐛", false),
    ("a@ex𝐚mple.com", true),
    ("a@example.c", false),
    ("a@example.é", false),
    ("a@example.éé", true),
    ("a@example.©©", false),
    ("a@example.©x", false),
    ("a@example.a\u{a8}", true),
    ("a@example.ªª", true),
    ("a@example.co\u{a0}m", false),
    ("a@example.co\u{3000}m", false),
    ("a@ex\u{3000}ample.com", true),
    ("a@exam\u{a0}ple.com", false),
    ("a@exam\u{a1}ple.com", true),
    ("a@exam\u{85}ple.com", false),
    ("a@example.co\u{feff}m", false),
    ("a@example.co\u{e000}", false),
    ("a@example.co豈", true),
    ("a@exa\u{e000}mple.com", true),
    ("a@ex\u{200b}ample.com", true),
    ("a@münchen.de", true),
    ("a@xn--mnchen-3ya.de", true),
    ("a@EXAMPLE.COM", true),
    ("a@Example.Com", true),
    ("a@e.x", false),
    ("a@1.2.3.4", false),
    ("a@example.1com", false),
    ("a@example.com1", false),
    ("a@example.c-m", false),
    ("a@example.-com", false),
    ("a@example.com-", false),
    ("a@a-.com", false),
    ("a@--.com", false),
    ("a@a--b.com", true),
    ("a@ex!ample.com", false),
    ("a@ex%ample.com", false),
    ("a@ex/ample.com", false),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com",
        true,
    ),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com",
        false,
    ),
    ("éééééééééééééééééééééééééééééééé@example.com", true),
    ("ééééééééééééééééééééééééééééééééé@example.com", false),
    (
        "éaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com",
        false,
    ),
    (
        "中中中中中中中中中中中中中中中中中中中中中a@example.com",
        true,
    ),
    (
        "中中中中中中中中中中中中中中中中中中中中中中@example.com",
        false,
    ),
    (
        "a@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.com",
        true,
    ),
    (
        "a@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.com",
        false,
    ),
    (
        "a@example.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
        true,
    ),
    (
        "a@example.cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
        false,
    ),
    (
        "a@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.com",
        false,
    ),
    (
        "a@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.com",
        false,
    ),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.com",
        false,
    ),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.com",
        false,
    ),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.co",
        true,
    ),
    (
        "a@üüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü.com",
        true,
    ),
    (
        "a@üüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü.com",
        false,
    ),
    ("a@𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚x.com", true),
    ("a@𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚𝐚.com", false),
    ("A.B-C_D+E@Example-Domain.ORG", true),
    ("a@a.b.c.d.e.f.g.h.com", true),
    ("a@0.com", true),
    ("a@0-0.com", true),
    ("test@example.co.jp", true),
    ("a@example.com\u{a}", false),
    ("a\u{a}@example.com", false),
    ("a@exa\u{a}mple.com", false),
    ("a@example\u{9}.com", false),
    ("a@éxample.com", true),
    ("a@example.com\u{301}", true),
    ("a@e\u{301}xample.com", true),
    ("a@example.co\u{301}m", true),
    ("josé@exa\u{301}mple.com", true),
    ("a@example.com\u{fe0f}", true),
    ("a✌\u{fe0f}@example.com", true),
    ("a@✌\u{fe0f}.com", true),
    ("a@example.✌", false),
    ("email@example.web", true),
    ("email@example.name", true),
    ("firstname-lastname@example.com", true),
    ("email@[123.123.123.123]", false),
    ("\"email\"@example.com", true),
    ("much.\"more\\ unusual\"@example.com", false),
    ("very.unusual.\"@\".unusual.com@example.com", false),
    ("あいうえお@example.com", true),
    ("email@example.com (Joe Smith)", false),
    ("email@-example.com", false),
    ("email@111.222.333.44444", false),
    ("Abc..123@example.com", false),
    ("just\"not\"right@example.com", false),
    ("this\\ is\"really\"not\\allowed@example.com", false),
    ("a@b.cc", true),
    ("a@b.c-c", false),
    ("a@b.cc.", false),
    ("a@b..cc", false),
    ("x@x.xx", true),
    ("name@domain.with.many.labels.example", true),
    ("a@", false),
    ("a@.", false),
    ("a@..", false),
    ("a@xn", false),
    ("a@xn--", false),
    ("a@é", false),
    ("a@é.", false),
    ("a@.é", false),
    ("a@a.\u{10ffff}", false),
    ("a@a.xné", true),
    ("a@a.xn--é", false),
    ("\"@example.com", true),
    ("\"\"@example.com", true),
    ("\"\\@example.com", false),
    ("\\\"@example.com", false),
    ("\"é@example.com", false),
    ("é\"@example.com", false),
    ("\"a\"@\"b\"@example.com", false),
    ("_@example.com", true),
    ("-@example.com", true),
    ("~@example.com", true),
    (".@example.com", false),
    ("a@_example.com", false),
];

#[test]
fn is_email_gives_validator_js_verdict_on_every_address_of_the_table() {
    assert!(EMAILS.len() >= 150);
    let wrong: Vec<_> = EMAILS
        .iter()
        .filter(|(address, verdict)| is_email(address) != *verdict)
        .collect();
    assert!(
        wrong.is_empty(),
        "{} disagreements: {wrong:#?}",
        wrong.len()
    );
}

#[test]
fn the_table_holds_the_addresses_that_broke_the_first_version() {
    let verdict = |a: &str| EMAILS.iter().find(|(x, _)| *x == a).map(|(_, v)| *v);
    // Non-ASCII top-level labels: the server accepts them (we used to panic on them).
    for accepted in ["a@例子.中国", "c@example.भारत", "d@example.comé"] {
        assert_eq!(verdict(accepted), Some(true), "{accepted}");
    }
    for refused in [
        "𝐣𝐨𝐡𝐧@example.com",
        "a@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}.com",
        "a@example.𝐚𝐛",
    ] {
        assert_eq!(verdict(refused), Some(false), "{refused}");
    }
    let too_long = EMAILS
        .iter()
        .find(|(a, _)| a.len() == 255 && a.is_ascii())
        .expect("a 255-character address");
    assert!(!too_long.1);
}

/// (text, what validator.js `isLength` counts).
const LENGTHS: &[(&str, usize)] = &[
    ("", 0),
    ("ab", 2),
    ("abc", 3),
    ("J\u{270c}\u{fe0f}", 2),
    ("J\u{270c}\u{fe0f}x", 3),
    ("\u{270c}\u{fe0e}", 1),
    ("a\u{301}b", 3),
    ("e\u{301}", 2),
    ("\u{20000}\u{20000}", 2),
    ("\u{20000}\u{20000}\u{20000}", 3),
    ("\u{1f44d}\u{1f3fd}", 2),
    ("\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}", 5),
    ("\u{fe0f}\u{fe0f}\u{fe0f}", 0),
    ("中文", 2),
    ("中文字", 3),
    ("\u{915}\u{94d}\u{937}", 3),
];

#[test]
fn length_counts_as_is_length_does() {
    for (text, expected) in LENGTHS {
        assert_eq!(length(text), *expected, "{text:?}");
    }
    // The 255/256 boundary, in every kind of character.
    for unit in [
        "a",
        "\u{1f600}",
        "\u{20000}",
        "é",
        "a\u{fe0f}",
        "\u{270c}\u{fe0f}",
    ] {
        assert_eq!(length(&unit.repeat(255)), 255, "{unit:?}");
        assert_eq!(length(&unit.repeat(256)), 256, "{unit:?}");
    }
    assert_eq!(length(&"e\u{301}".repeat(128)), 256);
    assert_eq!(length(&("x".repeat(254) + "\u{301}")), 255);
}

/// Random addresses and texts, judged by this port and by validator.js itself under Node.js.
/// Needs `node` and `npm ci` in scripts/validatorjs, so it is not part of `cargo test`:
/// `cargo test --lib differential -- --ignored` (see the README).
#[test]
#[ignore = "needs Node.js and scripts/validatorjs/node_modules"]
fn differential_against_validator_js() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::io::Write;
    use std::process::{Command, Stdio};

    const PIECES: &[&str] = &[
        "a",
        "Z",
        "0",
        ".",
        "@",
        "-",
        "_",
        "+",
        "\"",
        "\\",
        " ",
        "\t",
        "\n",
        "\u{0}",
        "\u{1}",
        "\u{7f}",
        "\u{85}",
        "\u{a0}",
        "\u{a1}",
        "\u{a9}",
        "\u{aa}",
        "é",
        "e\u{301}",
        "\u{fe0e}",
        "\u{fe0f}",
        "\u{200b}",
        "\u{feff}",
        "\u{2028}",
        "\u{3000}",
        "中",
        "\u{927}",
        "\u{ff41}",
        "\u{ff5e}",
        "\u{ff5f}",
        "\u{1d41a}",
        "\u{1f600}",
        "\u{d7ff}",
        "\u{e000}",
        "\u{f8ff}",
        "\u{f900}",
        "\u{fdcf}",
        "\u{fdd0}",
        "\u{fdf0}",
        "\u{ffef}",
        "\u{fff0}",
        "xn",
        "xn--",
        "com",
        "[",
        "]",
        ":",
        "<",
        ">",
        "(",
        ")",
        ",",
        ";",
        "!",
        "#",
        "~",
    ];
    let piece = proptest::sample::select(PIECES);
    let part = |max| proptest::collection::vec(piece.clone(), 0..max).prop_map(|p| p.concat());
    let strategy = prop_oneof![
        (part(20), part(12), part(6)).prop_map(|(l, d, t)| format!("{l}@{d}.{t}")),
        (part(40), part(40)).prop_map(|(l, d)| format!("{l}@{d}")),
        ("[a-z]{1,70}", "[a-z]{1,70}", "[a-z]{1,70}", "[a-z]{1,70}")
            .prop_map(|(l, a, b, c)| format!("{l}@{a}.{b}.{c}")),
        part(60),
        any::<String>(),
    ];
    let mut runner = TestRunner::deterministic();
    let values: Vec<String> = (0..50_000)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect();

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/validatorjs");
    let mut node = Command::new("node")
        .arg("verdicts.js")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let input = serde_json::to_vec(&values).unwrap();
    let mut stdin = node.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = node.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "node failed");
    let verdicts: Vec<(bool, usize)> = serde_json::from_slice(&output.stdout).unwrap();
    let wrong: Vec<_> = values
        .iter()
        .zip(&verdicts)
        .filter(|(v, (email, len))| is_email(v) != *email || length(v) != *len)
        .take(20)
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    let accepted = verdicts.iter().filter(|(e, _)| *e).count();
    println!(
        "{} values, {accepted} addresses accepted by both",
        values.len()
    );
}

/// The byte-pass for ASCII domains and the general rule agree on every ASCII domain of the
/// table (and on each with a label made too long).
#[test]
fn the_ascii_domain_pass_agrees_with_the_general_rule() {
    let general = |d: &str| {
        let Some((_, tld)) = d.rsplit_once('.') else {
            return false;
        };
        is_tld(tld)
            && d.split('.').all(|l| {
                !l.is_empty()
                    && utf16_len(l) <= 63
                    && l.chars().all(is_label_char)
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    };
    let mut seen = 0;
    for (address, _) in EMAILS {
        let Some((_, domain)) = address.rsplit_once('@') else {
            continue;
        };
        if !domain.is_ascii() {
            continue;
        }
        for d in [domain.to_owned(), format!("{}.{domain}", "a".repeat(64))] {
            assert_eq!(is_fqdn(&d), general(&d), "{d:?}");
            seen += 1;
        }
    }
    assert!(seen > 200, "{seen}");
}
