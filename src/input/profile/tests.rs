//! The profile's format and each of its checks, on texts built here; its header aliases and
//! value words through the reader.

use super::*;
use crate::input::{ColumnMap, CsvInput, Record, RowView, map_columns};

fn parse(text: &str) -> Result<Profile, String> {
    Profile::parse(text, Path::new("partners/acme.toml")).map_err(|e| e.to_string())
}

#[track_caller]
fn refused(text: &str, expected: &[&str]) {
    let e = parse(text).expect_err("refused");
    for part in expected {
        assert!(e.contains(part), "{part:?} not in {e:?}");
    }
}

const ALL_KEYS: &str = r#"
delimiter = "tab"
encoding = "windows-1252"
date_format = "DD/MM/YYYY"
sheet = "Clients"
documents_dir = "scans"

[columns]
first_name = ["Prénom", "Given name"]
email = "Courriel"

[values.id_document_type]
nin = ["National ID", "CNI"]
PASSPORT = "Passeport"

[values.country]
Senegal = "Sénégal"
"#;

#[test]
fn every_key_is_read_and_checked() {
    let p = parse(ALL_KEYS).unwrap();
    assert_eq!(p.delimiter, Some(b'\t'));
    assert_eq!(p.encoding, Some(encoding_rs::WINDOWS_1252));
    assert_eq!(
        p.date_format,
        Some(DateFormat::parse("DD/MM/YYYY").unwrap())
    );
    assert_eq!(p.sheet.as_deref(), Some("Clients"));
    // Relative to the profile's own folder, where a user keeps it beside the partner's files.
    assert_eq!(p.documents_dir, Some(PathBuf::from("partners/scans")));
    let m = p.mapping.as_deref().unwrap();
    assert_eq!(m.field_of(&normalise("given name")), Some(Field::FirstName));
    assert_eq!(m.field_of(&normalise("COURRIEL")), Some(Field::Email));
    assert_eq!(
        m.field_of("email"),
        None,
        "our own names are matched by map_columns"
    );
    assert_eq!(
        m.aliases(Field::FirstName).collect::<Vec<_>>(),
        ["Prénom", "Given name"]
    );
    // The target is written as the API writes it, whatever case the profile used.
    let word = |f, v: &str| m.word(f, Cow::Owned(v.to_owned())).into_owned();
    assert_eq!(word(Field::IdDocumentType, "cni"), "NIN");
    assert_eq!(word(Field::Country, "Sénégal"), "Senegal");

    let absolute = parse("documents_dir = \"/srv/kyc\"").unwrap();
    assert_eq!(absolute.documents_dir, Some(PathBuf::from("/srv/kyc")));
    let empty = parse("# nothing\n").unwrap();
    assert!(empty.mapping.is_none() && empty.delimiter.is_none());
    assert_eq!(empty.reading().delimiter, b',');
}

#[test]
fn an_unknown_key_is_named_with_its_line_and_the_closest_known_key() {
    refused(
        "delimiter = \";\"\n\ndelimter = \";\"\n",
        &[
            "profile 'partners/acme.toml' line 3:",
            "unknown key 'delimter' (did you mean 'delimiter'?)",
        ],
    );
    refused(
        "[value.id_document_type]\nNIN = \"CNI\"\n",
        &["line 1:", "unknown key 'value' (did you mean 'values'?)"],
    );
    refused(
        "weight = 3\n",
        &["unknown key 'weight': the keys are delimiter, encoding, date_format"],
    );
    refused(
        "[columns]\nfrist_name = \"Prénom\"\n",
        &[
            "line 2:",
            "[columns]: unknown field 'frist_name' (did you mean 'first_name'?)",
        ],
    );
    refused(
        "[values.document_type]\nNIN = \"CNI\"\n",
        &[
            "line 1:",
            "[values]: unknown field 'document_type' (did you mean 'id_document_type'?)",
        ],
    );
    refused(
        "[columns]\nprenom = \"Prénom\"\n",
        &["unknown field 'prenom': the fields are first_name, last_name"],
    );
}

#[test]
fn a_setting_the_flag_would_refuse_is_refused_with_the_key() {
    refused(
        "delimiter = \";;\"",
        &["line 1: delimiter:", "not a one-character ASCII delimiter"],
    );
    refused("\ndelimiter = '\"'", &["line 2: delimiter:", "CSV quoting"]);
    refused(
        "encoding = \"klingon\"",
        &["line 1: encoding: 'klingon' is not an encoding label"],
    );
    refused(
        "date_format = \"DD/MM/YY\"",
        &["line 1: date_format: 'DD/MM/YY' is not a date pattern"],
    );
    refused(
        "documents_dir = \" \"",
        &["line 1: documents_dir: give a folder"],
    );
    // Types and TOML itself, on one line with the key.
    refused(
        "delimiter = 3",
        &["line 1: delimiter: invalid type: integer `3`, expected a string"],
    );
    refused(
        "[columns]\nemail = [\"Courriel\", 3]",
        &["line 2: email: invalid type: integer `3`"],
    );
    refused(
        "[columns.email]\nheader = \"Courriel\"",
        &["line 1: [columns.email]: invalid type: map, expected a text or a list of texts"],
    );
    refused("sheet = \n", &["line 1: sheet:"]);
}

#[test]
fn a_column_mapped_twice_or_named_like_another_field_is_refused() {
    refused(
        "[columns]\nlast_name = \"Nom\"\nfirst_name = [\"Prénom\", \" NOM \"]\n",
        &[
            "line 3:",
            "[columns] column mapped twice: 'NOM' is given for first_name and for last_name \
             (line 2)",
        ],
    );
    refused(
        "[columns]\nfirst_name = \"E-mail\"\n",
        &["line 2: [columns] first_name: 'E-mail' is the name of the email column"],
    );
    refused(
        "[columns]\nfirst_name = \" - \"\n",
        &["[columns] first_name: a header cannot be empty"],
    );
    // A field's own name, or one header listed twice for one field, is harmless.
    let p = parse("[columns]\nemail = [\"Email\", \"Courriel\", \"courriel\"]\n").unwrap();
    assert_eq!(p.mapping.unwrap().aliases(Field::Email).count(), 2);
}

#[test]
fn value_words_are_checked() {
    refused(
        "[values.id_document_type]\nID_CARD = \"CNI\"\n",
        &[
            "line 2:",
            "[values.id_document_type]: 'ID_CARD' is not a document type: give NIN, PASSPORT, \
             VOTERS_CARD or DRIVERS_LICENSE",
        ],
    );
    refused(
        "[values.id_document_type]\nNIN = \"CNI\"\nPASSPORT = [\"Passeport\", \" cni\"]\n",
        &[
            "line 3:",
            "[values.id_document_type]: 'cni' is listed under NIN (line 2) and under PASSPORT",
        ],
    );
    refused(
        "[values.id_document_type]\nNIN = \"passport\"\nPASSPORT = \"Passeport\"\n",
        &[
            "line 3:",
            "'PASSPORT' is one of our words and is also listed under NIN",
        ],
    );
    refused(
        "[values.id_document_front]\n\"a.jpg\" = \"b.jpg\"\n",
        &[
            "line 1:",
            "id_document_front is a file path",
            "cannot be mapped",
        ],
    );
    refused(
        "[values.country]\nSenegal = \"  \"\n",
        &["[values.country] Senegal: a word cannot be empty"],
    );
    refused(
        "[values.country]\n\"\" = \"Sénégal\"\n",
        &["our word cannot be empty"],
    );
    // The same word under one of our words twice, or our own word listed under itself.
    assert!(parse("[values.id_document_type]\nNIN = [\"CNI\", \"cni\", \"NIN\"]\n").is_ok());
}

/// The reader's view of `cells` under `header`, read with `profile`.
fn read(profile: &str, header: &[&str], cells: &[&str]) -> Result<Vec<String>, String> {
    let p = parse(profile).unwrap();
    let map = map_columns(
        "in.csv",
        &csv::StringRecord::from(header.to_vec()),
        p.mapping.as_ref(),
    )
    .map_err(|e| e.to_string())?;
    let record = csv::StringRecord::from(cells.to_vec());
    let view = RowView::new(&map, &record);
    Ok(Field::ALL
        .iter()
        .filter(|f| map.has(**f))
        .map(|f| view.get(*f).into_owned())
        .collect())
}

const HEADER: [&str; 16] = [
    "first_name",
    "last_name",
    "email",
    "country",
    "street",
    "city",
    "state",
    "postal_code",
    "country_iso_code",
    "country_phone_code",
    "phone_number",
    "identification_number",
    "id_document_type",
    "date_of_birth",
    "id_document_front_url",
    "id_document_back_url",
];

#[test]
fn a_header_alias_is_matched_like_a_header_and_either_name_may_be_used() {
    let profile = "[columns]\nfirst_name = [\"Prénom\", \"Given name\"]\nemail = \"Courriel\"\n";
    let mut header = HEADER;
    header[0] = " PRÉNOM ";
    header[2] = "courriel";
    let row = ["Awa"; 16];
    assert_eq!(read(profile, &header, &row).unwrap().len(), 16);
    header[0] = "given-name";
    assert_eq!(read(profile, &header, &row).unwrap().len(), 16);
    // Our own names still work with a profile.
    assert_eq!(read(profile, &HEADER, &row).unwrap().len(), 16);

    let mut both = HEADER.to_vec();
    both.push("Prénom");
    let e = read(profile, &both, &["Awa"; 17]).unwrap_err();
    assert!(
        e.contains(
            "column 'first_name' appears twice (columns 1 and 17): 'first_name' and 'Prénom'"
        ),
        "{e}"
    );
    let mut missing = HEADER.to_vec();
    missing.remove(2);
    let e = read(profile, &missing, &["Awa"; 15]).unwrap_err();
    assert!(
        e.contains("required column missing: email (or 'Courriel')"),
        "{e}"
    );
    // Without the profile, the alias is an unknown column.
    let e = read("", &header, &row).unwrap_err();
    assert!(
        e.contains("required columns missing: first_name, email;"),
        "{e}"
    );
}

#[test]
fn a_partners_word_becomes_ours_whatever_its_case_and_invisible_edges() {
    let profile = "[values.id_document_type]\nNIN = [\"CNI\", \"Carte nationale d'identité\"]\n\
                   [values.country]\n\"Côte d'Ivoire\" = \"Cote d'Ivoire\"\n";
    let type_of = |cell: &str, country: &str| {
        let mut row = ["x"; 16];
        row[12] = cell;
        row[3] = country;
        let values = read(profile, &HEADER, &row).unwrap();
        (values[12].clone(), values[3].clone())
    };
    assert_eq!(type_of(" cni\u{200b}", "Côte d'Ivoire").0, "NIN");
    // Upper case, and é written as e + U+0301 (cleaning composes it first).
    assert_eq!(type_of("CARTE NATIONALE D'IDENTITE\u{301}", "x").0, "NIN");
    assert_eq!(
        type_of("Passport", "x").0,
        "Passport",
        "not a word of the map"
    );
    assert_eq!(type_of("", "x").0, "");
    assert_eq!(type_of("x", "COTE D'IVOIRE").1, "Côte d'Ivoire");
    assert_eq!(type_of("x", " Côte d'Ivoire ").1, "Côte d'Ivoire");
}

#[test]
fn without_value_maps_the_column_map_carries_none() {
    let aliases = parse("[columns]\nemail = \"Courriel\"\n").unwrap();
    let map = map_columns(
        "in.csv",
        &csv::StringRecord::from(HEADER.to_vec()),
        aliases.mapping.as_ref(),
    )
    .unwrap();
    assert!(map.values.is_none());
    assert!(ColumnMap::default().values.is_none());
}

#[test]
fn the_bundled_french_profile_reads_its_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let p = Profile::load(&dir.join("profiles/french-partner.toml")).unwrap();
    assert_eq!(p.delimiter, Some(b';'));
    let mut input = CsvInput::open(&dir.join("customers-fr.csv"), &p.reading()).unwrap();
    assert!(
        input.columns.unknown.is_empty(),
        "{:?}",
        input.columns.unknown
    );
    let columns = input.columns.clone();
    let mut types = Vec::new();
    while let Some(Record { fields: record, .. }) = input.next_record().unwrap() {
        types.push(
            RowView::new(&columns, record)
                .get(Field::IdDocumentType)
                .into_owned(),
        );
    }
    assert_eq!(
        types,
        ["PASSPORT", "NIN", "DRIVERS_LICENSE", "NIN", "VOTERS_CARD"]
    );
}

#[test]
fn a_missing_profile_is_named() {
    let e = Profile::load(Path::new("/nonexistent/acme.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "could not read profile '/nonexistent/acme.toml'"
    );
}
