//! What a stored one-line text (a name, a label, a file name) may hold: printable characters
//! only. NUL bytes, other control characters, line breaks and invisible formatting characters
//! (bidirectional overrides such as U+202E, which make `photo\u{202e}gnp.exe` read as
//! `photoexe.png`, zero-width characters, tags) are refused or stripped; a U+FFFD is what
//! undecodable bytes became, so it is refused too.

/// Why a one-line text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    Nul,
    NotText,
    LineBreak,
    Control(char),
    Format(char),
}

impl std::fmt::Display for TextProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextProblem::Nul => write!(f, "contains a NUL byte"),
            TextProblem::NotText => write!(f, "is not valid UTF-8 (nor CP949) text"),
            TextProblem::LineBreak => write!(f, "contains a line break"),
            TextProblem::Control(c) => {
                write!(f, "contains a control character (U+{:04X})", u32::from(*c))
            }
            TextProblem::Format(c) => write!(
                f,
                "contains an invisible formatting character (U+{:04X})",
                u32::from(*c)
            ),
        }
    }
}

/// Unicode format characters (general category Cf) and the other invisible controls of
/// text direction and joining: what can make a name display differently from what it is.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// The first problem of a one-line text, if any.
pub fn check_line(s: &str) -> Result<(), TextProblem> {
    for c in s.chars() {
        match c {
            '\0' => return Err(TextProblem::Nul),
            '\u{FFFD}' => return Err(TextProblem::NotText),
            '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{85}' => {
                return Err(TextProblem::LineBreak);
            }
            c if c.is_control() => return Err(TextProblem::Control(c)),
            c if is_format_char(c) => return Err(TextProblem::Format(c)),
            _ => {}
        }
    }
    Ok(())
}

/// `s` without control and format characters (for names taken from elsewhere, such as an
/// uploaded file's name, where refusing would lose the upload).
pub fn strip_invisible(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !is_format_char(*c) && *c != '\u{FFFD}')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_names_pass() {
        for ok in ["행복분식", "Kim's Café", "가게 #2 (본점)", "😀 분식", ""] {
            assert_eq!(check_line(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn hidden_and_broken_characters_are_refused() {
        assert_eq!(check_line("a\0b"), Err(TextProblem::Nul));
        assert_eq!(check_line("a\u{FFFD}b"), Err(TextProblem::NotText));
        assert_eq!(check_line("two\nlines"), Err(TextProblem::LineBreak));
        assert_eq!(check_line("two\rlines"), Err(TextProblem::LineBreak));
        assert_eq!(check_line("a\u{2028}b"), Err(TextProblem::LineBreak));
        assert_eq!(check_line("tab\there"), Err(TextProblem::Control('\t')));
        assert_eq!(check_line("bell\u{7}"), Err(TextProblem::Control('\u{7}')));
        for bidi in [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{200B}',
            '\u{FEFF}',
            '\u{E0041}',
        ] {
            let name = format!("photo{bidi}gnp.exe");
            assert_eq!(
                check_line(&name),
                Err(TextProblem::Format(bidi)),
                "{name:?}"
            );
            assert_eq!(strip_invisible(&name), "photognp.exe");
        }
        assert_eq!(
            TextProblem::Format('\u{202E}').to_string(),
            "contains an invisible formatting character (U+202E)"
        );
    }
}
