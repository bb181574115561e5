//! The merchant CSV importer of `meoktong merchant import FILE.csv` and of an association's
//! members upload (`/association/members`): decode, validate every row, then import all or
//! nothing.
//!
//! Line numbers are physical lines (the header is line 1), whatever the line endings: LF,
//! CRLF (Excel, most Korean spreadsheet programs) or a lone CR. They are counted here from the
//! record's byte offset, not taken from the csv crate's `Position::line`, which lags one line
//! per CRLF record (BurntSushi/rust-csv#395). Every problem is reported as
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
const OPTIONAL: [&str; 3] = ["backup_phone", "backup_email", "association"];
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

/// Which associations the `association` column may name.
#[derive(Debug, Clone, Copy)]
pub enum AssociationRule<'a> {
    /// The command line: any existing association (by exact name), or none.
    Known(&'a HashSet<String>),
    /// An association's own upload: empty or its own name; every row joins it.
    Only(&'a str),
}

/// What a file is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub known_slugs: &'a HashSet<String>,
    pub platform_domains: &'a BTreeMap<String, Vec<String>>,
    pub associations: AssociationRule<'a>,
}

/// One valid row: the merchant, and the association it joins (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    pub record: MerchantRecord,
    pub association: Option<String>,
    /// The physical line the row starts on.
    pub line: u64,
}

/// Parses and validates every row. `known_slugs` are the dependencies that exist. A file with
/// an `association` column is refused here (no association exists to this caller); use
/// [`parse_members`].
pub fn parse(
    text: &str,
    known_slugs: &HashSet<String>,
    platform_domains: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<MerchantRecord>, Vec<RowError>> {
    let none = HashSet::new();
    let scope = Scope {
        known_slugs,
        platform_domains,
        associations: AssociationRule::Known(&none),
    };
    Ok(parse_members(text, &scope)?
        .into_iter()
        .map(|r| r.record)
        .collect())
}

/// Physical line numbers of byte offsets: a line break is LF, CRLF or a lone CR.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Offset up to which breaks are counted, and how many there are before it.
    at: usize,
    breaks: u64,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        Lines {
            bytes: text.as_bytes(),
            at: 0,
            breaks: 0,
        }
    }

    /// The line a record starting at byte `offset` begins on. The csv crate may leave the
    /// offset on the LF of the previous record's CRLF, or before blank lines it skipped; no
    /// record begins with a line break, so those breaks are counted before it. Offsets only
    /// grow, so each byte is looked at once.
    fn line_of(&mut self, offset: u64) -> u64 {
        let mut end = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while matches!(self.bytes.get(end), Some(b'\r' | b'\n')) {
            end += 1;
        }
        if end > self.at {
            for (i, b) in self.bytes[self.at..end].iter().enumerate() {
                let next = self.bytes.get(self.at + i + 1);
                match b {
                    b'\n' => self.breaks += 1,
                    b'\r' if next != Some(&b'\n') => self.breaks += 1,
                    _ => {}
                }
            }
            self.at = end;
        }
        self.breaks + 1
    }
}

/// Parses and validates every row, with the `association` column read under `scope`.
pub fn parse_members(text: &str, scope: &Scope<'_>) -> Result<Vec<MemberRow>, Vec<RowError>> {
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
    let mut lines = Lines::new(text);
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let start = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let at = e.position().map(|p| p.byte()).unwrap_or(start);
                errors.push(err(lines.line_of(at), "row", format!("not valid CSV: {e}")));
                continue;
            }
        }
        let line = lines.line_of(record.position().map(|p| p.byte()).unwrap_or(start));
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
                let v = crate::csv_out::unguard(v.trim());
                (n.clone(), v.to_string())
            })
            .collect();
        let association = check_association(line, &row, scope.associations, &mut errors);
        match validate_row(line, &row, scope.known_slugs, scope.platform_domains) {
            Ok(record) => rows.push(MemberRow {
                record,
                association,
                line,
            }),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// The association a row joins under `rule`, or an error on its line.
fn check_association(
    line: u64,
    row: &Row,
    rule: AssociationRule<'_>,
    errors: &mut Vec<RowError>,
) -> Option<String> {
    let named = row
        .get("association")
        .map(String::as_str)
        .unwrap_or("")
        .trim();
    match rule {
        AssociationRule::Only(own) if named.is_empty() || named == own => Some(own.to_string()),
        AssociationRule::Only(own) => {
            errors.push(err(
                line,
                "association",
                format!("`{named}` is not `{own}` (an association imports only its own members)"),
            ));
            None
        }
        AssociationRule::Known(_) if named.is_empty() => None,
        AssociationRule::Known(known) if known.contains(named) => Some(named.to_string()),
        AssociationRule::Known(_) => {
            errors.push(err(
                line,
                "association",
                format!("unknown association `{named}`"),
            ));
            None
        }
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

    /// Excel and Korean spreadsheet programs save CSV with CRLF line endings.
    #[test]
    fn crlf_files_name_physical_lines() {
        let csv = format!(
            "{HEADER}A,010-1234-5678,,kakao-login,ko,,\nB,02-123-4567,,kakao-login,,,\nC,010-2222-3333,,,xx,,\n"
        )
        .replace('\n', "\r\n");
        let errs = parse(&csv, &slugs(), &BTreeMap::new()).expect_err("invalid");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "line 3: phone: `02-123-4567`: cannot receive SMS (landline)",
                "line 4: locale: `xx` is not ko or en"
            ]
        );
    }

    #[test]
    fn cp949_crlf_files_name_physical_lines() {
        let text = format!(
            "{HEADER}행복분식,010-1234-5678,,kakao-login,ko,서울 마포구,분식\r\n떡볶이집,123,,kakao-login,ko,서울 마포구,분식\r\n"
        );
        let text = text.replacen('\n', "\r\n", 1); // the header's line ending too
        let (cp949, _, unmappable) = encoding_rs::EUC_KR.encode(&text);
        assert!(!unmappable);
        assert!(std::str::from_utf8(&cp949).is_err(), "really not UTF-8");
        let errs = parse(&decode(&cp949), &slugs(), &BTreeMap::new()).expect_err("invalid");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["line 3: phone: `123`: not a phone number"]);
    }

    #[test]
    fn mixed_and_lone_cr_line_endings_count_as_lines() {
        let csv = format!("{HEADER}\r\n\"Two\r\nlines\",010-1234-5678,,,,,\rBad,123,,,,,\r\n");
        let errs = parse(&csv, &slugs(), &BTreeMap::new()).expect_err("invalid");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "line 3: business_name: contains a line break",
                "line 5: phone: `123`: not a phone number"
            ]
        );
    }

    #[test]
    fn the_association_column_names_known_associations_only() {
        let known: HashSet<String> = ["서울상인연합".to_string()].into_iter().collect();
        let header = "business_name,phone,email,dependencies,locale,region,trade,association\n";
        let csv = format!(
            "{header}A,010-1234-5678,,,,,,서울상인연합\nB,010-1234-5679,,,,,,\nC,010-1234-5670,,,,,,없는단체\n"
        );
        let domains = BTreeMap::new();
        let known_slugs = slugs();
        let scope = Scope {
            known_slugs: &known_slugs,
            platform_domains: &domains,
            associations: AssociationRule::Known(&known),
        };
        let errs = parse_members(&csv, &scope).expect_err("invalid");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            ["line 4: association: unknown association `없는단체`"]
        );
        let ok = parse_members(&csv.replace("없는단체", ""), &scope).expect("valid");
        assert_eq!(ok[0].association.as_deref(), Some("서울상인연합"));
        assert_eq!(ok[1].association, None);
        // An association's own upload: every row joins it; another name is refused.
        let own = Scope {
            associations: AssociationRule::Only("마포상인회"),
            ..scope
        };
        let errs = parse_members(&csv.replace("없는단체", ""), &own).expect_err("invalid");
        assert!(
            errs[0].to_string().starts_with("line 2: association:"),
            "{errs:?}"
        );
        let ok = parse_members(
            &csv.replace("없는단체", "").replace("서울상인연합", ""),
            &own,
        )
        .expect("valid");
        assert!(
            ok.iter()
                .all(|r| r.association.as_deref() == Some("마포상인회"))
        );
    }

    #[test]
    fn header_problems_are_line_1() {
        let errs = parse("business_name,phone\n", &slugs(), &BTreeMap::new()).expect_err("invalid");
        assert!(errs.iter().all(|e| e.line == 1 && e.field == "header"));
    }
}
