//! Reading the report form (`multipart/form-data`): text fields with a size cap, and
//! attachments whose type is sniffed from their first bytes (never the client's word), each
//! at most [`MAX_FILE_BYTES`].
use super::validate::{FieldError, Problem};
use axum::extract::Multipart;
use axum::extract::multipart::Field;
use axum::http::StatusCode;
use meoktong_storage::reports::NewAttachment;

pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_FILES: usize = 3;
/// The whole request: every file at its largest plus the text fields.
pub const MAX_BODY_BYTES: usize = MAX_FILES * MAX_FILE_BYTES + 512 * 1024;
/// A text field is cut here; anything near it fails its own length check anyway.
const MAX_TEXT_BYTES: usize = 32 * 1024;
const MAX_FIELDS: usize = 200;
const FILE_FIELD: &str = "attachments";

/// What may be attached: images a phone takes or a screenshot, and PDF.
const ALLOWED_TYPES: [&str; 5] = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "application/pdf",
];

/// The form as received.
#[derive(Debug, Default)]
pub struct RawForm {
    pub fields: Vec<(String, String)>,
    pub files: Vec<NewAttachment>,
    pub file_errors: Vec<FieldError>,
}

impl RawForm {
    /// The first value of a field, or "".
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of a repeated field (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A request the form reader refused as a whole (too large, malformed).
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub reason: String,
}

/// Reads the whole form. Per-file problems become field errors, so the form can say so.
pub async fn read(mut multipart: Multipart) -> Result<RawForm, Refused> {
    let mut form = RawForm::default();
    let refused = |e: axum::extract::multipart::MultipartError| Refused {
        status: e.status(),
        reason: e.body_text(),
    };
    let mut seen = 0;
    while let Some(mut field) = multipart.next_field().await.map_err(refused)? {
        seen += 1;
        if seen > MAX_FIELDS {
            return Err(Refused {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                reason: "too many fields".into(),
            });
        }
        let name = field.name().unwrap_or_default().to_string();
        if name == FILE_FIELD {
            read_file(&mut form, field).await.map_err(refused)?;
            continue;
        }
        let bytes = read_capped(&mut field, MAX_TEXT_BYTES)
            .await
            .map_err(refused)?;
        form.fields
            .push((name, String::from_utf8_lossy(&bytes.0).into_owned()));
    }
    Ok(form)
}

/// Up to `cap` bytes of a field, and whether there was more (the rest is skipped).
async fn read_capped(
    field: &mut Field<'_>,
    cap: usize,
) -> Result<(Vec<u8>, bool), axum::extract::multipart::MultipartError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        if buf.len() + chunk.len() > cap {
            let room = cap - buf.len();
            buf.extend_from_slice(&chunk[..room]);
            return Ok((buf, true));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf, false))
}

async fn read_file(
    form: &mut RawForm,
    mut field: Field<'_>,
) -> Result<(), axum::extract::multipart::MultipartError> {
    let filename = safe_filename(field.file_name().unwrap_or_default());
    let (data, too_large) = read_capped(&mut field, MAX_FILE_BYTES).await?;
    if data.is_empty() && filename.is_empty() {
        return Ok(()); // the browser's empty file input
    }
    let problem = if too_large {
        Some(Problem::FileTooLarge)
    } else if form.files.len() >= MAX_FILES {
        Some(Problem::TooManyFiles)
    } else {
        None
    };
    if let Some(problem) = problem {
        form.file_errors.push(FieldError {
            field: FILE_FIELD,
            problem,
        });
        return Ok(());
    }
    match sniff(&data) {
        Some(content_type) => form.files.push(NewAttachment {
            filename: if filename.is_empty() {
                format!("attachment.{}", extension(content_type))
            } else {
                filename
            },
            content_type: content_type.to_string(),
            data,
        }),
        None => form.file_errors.push(FieldError {
            field: FILE_FIELD,
            problem: Problem::FileType,
        }),
    }
    Ok(())
}

/// The content's real type, if it is one we accept.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    let t = infer::get(data)?;
    ALLOWED_TYPES.iter().copied().find(|a| *a == t.mime_type())
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => "pdf",
    }
}

/// The last path segment of a client's file name, without control or quoting characters
/// and without invisible formatting characters (a U+202E makes `photo\u{202e}gnp.exe` read
/// as `photoexe.png`), at most 100 characters (it goes into a Content-Disposition header
/// later).
pub fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    meoktong_domain::text::strip_invisible(base)
        .chars()
        .filter(|c| !matches!(c, '"' | ';' | '\\'))
        .take(100)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_content_not_the_name() {
        assert_eq!(
            sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
            Some("application/pdf")
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF\0"), Some("image/jpeg"));
        assert_eq!(
            sniff(b"MZ\x90\0\x03\0\0\0"),
            None,
            "a Windows executable named photo.jpg"
        );
        assert_eq!(sniff(b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b"PK\x03\x04"), None, "zip");
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn file_names_lose_paths_and_header_breaking_characters() {
        assert_eq!(safe_filename("C:\\Users\\me\\영수증.pdf"), "영수증.pdf");
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(safe_filename("a\"b;c\r\n.png"), "abc.png");
        assert_eq!(safe_filename(&"가".repeat(300)).chars().count(), 100);
    }

    #[test]
    fn file_names_lose_bidi_and_other_invisible_characters() {
        assert_eq!(safe_filename("photo\u{202E}gnp.exe"), "photognp.exe");
        for hidden in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{2068}',
            '\u{2069}', '\u{200E}', '\u{200F}', '\u{200B}', '\u{FEFF}', '\u{061C}',
        ] {
            assert_eq!(
                safe_filename(&format!("영수{hidden}증.pdf")),
                "영수증.pdf",
                "U+{:04X}",
                u32::from(hidden)
            );
        }
    }
}
