//! `meoktong merchant import FILE.csv`: decode, validate every row, then import all or nothing.
//!
//! Line numbers are physical lines (the header is line 1). Every problem is reported as
//! `line N: field: reason`; a file with any problem writes nothing.
use meoktong_domain::contact::{EmailAddr, platform_of_email};
use meoktong_domain::phone::parse_mobile;
use meoktong_storage::merchants::MerchantRecord;
use std::collections::{BTreeMap, HashSet};

const REQUIRED: [&str; 7] = [
    "business_name",
    "phone",
    "email",
    "dependencies",
    "locale",
    "region",
    "trade",
];
const OPTIONAL: [&str; 2] = ["backup_phone", "backup_email"];
const MAX_NAME: usize = 100;
const MAX_TEXT: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

/// CSV bytes as text: UTF-8 (a BOM is dropped) or, failing that, CP949/EUC-KR as Korean
/// spreadsheet programs save it. Bytes that are neither become U+FFFD, which [`parse`]
/// refuses in the cell they fall in (`line N: field: is not valid UTF-8 (nor CP949) text`),
/// so nothing undecodable is ever stored.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        // encoding_rs's EUC-KR is the WHATWG one, i.e. windows-949 (CP949), a superset.
        Err(_) => {
            match encoding_rs::EUC_KR.decode_without_bom_handling_and_without_replacement(bytes) {
                Some(text) => text.into_owned(),
                None => String::from_utf8_lossy(bytes).into_owned(),
            }
        }
    }
}

fn err(line: u64, field: &str, reason: impl Into<String>) -> RowError {
    RowError {
        line,
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Parses and validates every row. `known_slugs` are the dependencies that exist.
pub fn parse(
    text: &str,
    known_slugs: &HashSet<String>,
    platform_domains: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<MerchantRecord>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![err(
                1,
                "header",
                format!("cannot read the header: {e}"),
            )]);
        }
    };
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let mut errors = Vec::new();
    for required in REQUIRED {
        if !names.iter().any(|n| n == required) {
            errors.push(err(1, "header", format!("missing column `{required}`")));
        }
    }
    for n in &names {
        if !REQUIRED.contains(&n.as_str()) && !OPTIONAL.contains(&n.as_str()) {
            errors.push(err(1, "header", format!("unknown column `{n}`")));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut records = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                errors.push(err(line, "row", format!("not valid CSV: {e}")));
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(line);
        if record.iter().all(str::is_empty) {
            continue; // blank lines are not rows
        }
        if record.len() != names.len() {
            errors.push(err(
                line,
                "row",
                format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    names.len()
                ),
            ));
            continue;
        }
        let row: Row = names
            .iter()
            .zip(record.iter())
            .map(|(n, v)| {
                let v = meoktong_web::csv_out::unguard(v.trim());
                (n.clone(), v.to_string())
            })
            .collect();
        match validate_row(line, &row, known_slugs, platform_domains) {
            Ok(r) => records.push(r),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

type Row = std::collections::HashMap<String, String>;

fn validate_row(
    line: u64,
    row: &Row,
    known_slugs: &HashSet<String>,
    platform_domains: &BTreeMap<String, Vec<String>>,
) -> Result<MerchantRecord, Vec<RowError>> {
    let get = |name: &str| row.get(name).map(String::as_str).unwrap_or("");
    let mut errors = Vec::new();
    // Every field is one line of printable text: no NUL, control characters, line breaks,
    // invisible formatting (bidi overrides) or undecodable bytes.
    let mut fields: Vec<(&String, &String)> = row.iter().collect();
    fields.sort();
    for (field, value) in fields {
        if let Err(problem) = meoktong_domain::text::check_line(value) {
            errors.push(err(line, field, problem.to_string()));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let business_name = get("business_name");
    if business_name.is_empty() {
        errors.push(err(line, "business_name", "is empty"));
    } else if business_name.chars().count() > MAX_NAME {
        errors.push(err(
            line,
            "business_name",
            format!("longer than {MAX_NAME} characters"),
        ));
    }
    let phone = match get("phone") {
        "" => {
            errors.push(err(line, "phone", "is empty"));
            None
        }
        p => match parse_mobile(p) {
            Ok(m) => Some(m.as_str().to_string()),
            Err(e) => {
                errors.push(err(line, "phone", format!("`{p}`: {e}")));
                None
            }
        },
    };
    let email = parse_email(line, "email", get("email"), &mut errors);
    let mut dependencies = Vec::new();
    for slug in get("dependencies")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !known_slugs.contains(slug) {
            errors.push(err(
                line,
                "dependencies",
                format!("unknown dependency `{slug}`"),
            ));
        } else if !dependencies.iter().any(|d| d == slug) {
            dependencies.push(slug.to_string());
        }
    }
    let locale = match get("locale") {
        "" => None,
        l @ ("ko" | "en") => Some(l.to_string()),
        other => {
            errors.push(err(line, "locale", format!("`{other}` is not ko or en")));
            None
        }
    };
    let text = |field: &str, errors: &mut Vec<RowError>| -> Option<String> {
        let v = get(field);
        if v.chars().count() > MAX_TEXT {
            errors.push(err(
                line,
                field,
                format!("longer than {MAX_TEXT} characters"),
            ));
        }
        (!v.is_empty()).then(|| v.to_string())
    };
    let region = text("region", &mut errors);
    let trade = text("trade", &mut errors);
    let backup_phone = match get("backup_phone") {
        "" => None,
        p => match parse_mobile(p) {
            Ok(m) => Some(m.as_str().to_string()),
            Err(e) => {
                errors.push(err(line, "backup_phone", format!("`{p}`: {e}")));
                None
            }
        },
    };
    let backup_email = parse_email(line, "backup_email", get("backup_email"), &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let platform = |e: &Option<EmailAddr>| {
        e.as_ref()
            .and_then(|e| platform_of_email(e, platform_domains))
            .map(str::to_string)
    };
    Ok(MerchantRecord {
        business_name: business_name.to_string(),
        phone: phone.unwrap_or_default(),
        email_platform: platform(&email),
        email: email.map(|e| e.as_str().to_string()),
        dependencies,
        locale,
        region,
        trade,
        backup_phone,
        backup_email_platform: platform(&backup_email),
        backup_email: backup_email.map(|e| e.as_str().to_string()),
    })
}

fn parse_email(
    line: u64,
    field: &str,
    value: &str,
    errors: &mut Vec<RowError>,
) -> Option<EmailAddr> {
    if value.is_empty() {
        return None;
    }
    match EmailAddr::parse(value) {
        Ok(e) => Some(e),
        Err(e) => {
            errors.push(err(
                line,
                field,
                format!("`{value}` is not an email address ({e})"),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slugs() -> HashSet<String> {
        ["kakao-login", "kakaopay"]
            .into_iter()
            .map(String::from)
            .collect()
    }

    const HEADER: &str = "business_name,phone,email,dependencies,locale,region,trade\n";

    #[test]
    fn normalises_korean_mobiles_and_reads_every_field() {
        let csv = format!(
            "{HEADER}행복분식,010-1234-5678,kim@example.com,kakao-login;kakaopay,ko,서울 마포구,분식\n"
        );
        let rows = parse(&csv, &slugs(), &BTreeMap::new()).expect("valid");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].phone, "+821012345678");
        assert_eq!(rows[0].dependencies, vec!["kakao-login", "kakaopay"]);
        assert_eq!(rows[0].region.as_deref(), Some("서울 마포구"));
    }

    #[test]
    fn reports_every_bad_row_by_physical_line_and_field() {
        let csv = format!(
            "{HEADER}A,010-1234-5678,,kakao-login,ko,,\nB,02-123-4567,,kakao-login,,,\nC,010-2222-3333,not-an-email,nope,fr,,\n"
        );
        let errs = parse(&csv, &slugs(), &BTreeMap::new()).expect_err("invalid");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|e| e.starts_with("line 3: phone:")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.starts_with("line 4: email:")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e.starts_with("line 4: dependencies: unknown dependency `nope`")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.starts_with("line 4: locale:")),
            "{text:?}"
        );
        assert!(!text.iter().any(|e| e.starts_with("line 2")), "{text:?}");
    }

    #[test]
    fn quoted_newlines_keep_physical_line_numbers() {
        let csv = format!("{HEADER}\"Two\nlines\",010-1234-5678,,,,,\nBad,123,,,,,\n");
        let errs = parse(&csv, &slugs(), &BTreeMap::new()).expect_err("invalid");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "line 2: business_name: contains a line break",
                "line 4: phone: `123`: not a phone number"
            ],
            "{errs:?}"
        );
    }

    #[test]
    fn bytes_that_are_not_text_are_refused_by_line_and_field() {
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(b"Nul\0Shop,010-1234-5678,,,,,\n");
        bytes.extend_from_slice(b"Bad \xff\xfe bytes,010-1234-5679,,,,,\n");
        bytes.extend_from_slice("Bidi\u{202E}gnp.exe,010-1234-5670,,,,,\n".as_bytes());
        bytes.extend_from_slice(b"\"Tab\tName\",010-1234-5671,,,,,\n");
        bytes.extend_from_slice(b"Bell,010-1234-5672,,,,\x07region,\n");
        let errs = parse(&decode(&bytes), &slugs(), &BTreeMap::new()).expect_err("invalid");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "line 2: business_name: contains a NUL byte",
                "line 3: business_name: is not valid UTF-8 (nor CP949) text",
                "line 4: business_name: contains an invisible formatting character (U+202E)",
                "line 5: business_name: contains a control character (U+0009)",
                "line 6: region: contains a control character (U+0007)",
            ]
        );
    }

    #[test]
    fn cp949_files_stay_legitimate() {
        let text = format!("{HEADER}행복분식,010-1234-5678,,kakao-login,ko,서울 마포구,분식\n");
        let (cp949, _, unmappable) = encoding_rs::EUC_KR.encode(&text);
        assert!(!unmappable);
        assert!(std::str::from_utf8(&cp949).is_err(), "really not UTF-8");
        let rows = parse(&decode(&cp949), &slugs(), &BTreeMap::new()).expect("valid");
        assert_eq!(rows[0].business_name, "행복분식");
        assert_eq!(rows[0].region.as_deref(), Some("서울 마포구"));
    }

    #[test]
    fn decodes_cp949_and_drops_the_bom() {
        let (cp949, _, _) = encoding_rs::EUC_KR.encode("행복분식");
        assert_eq!(decode(&cp949), "행복분식");
        assert_eq!(decode("\u{feff}abc".as_bytes()), "abc");
    }

    #[test]
    fn header_problems_are_line_1() {
        let errs = parse("business_name,phone\n", &slugs(), &BTreeMap::new()).expect_err("invalid");
        assert!(errs.iter().all(|e| e.line == 1 && e.field == "header"));
    }
}
