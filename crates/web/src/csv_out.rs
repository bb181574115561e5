//! The one CSV writer for files people open in a spreadsheet (`meoktong merchant list
//! --format csv`, the association's report export): every cell that a spreadsheet would read
//! as a formula — starting with `=`, `+`, `-`, `@`, a tab or a carriage return — is written
//! with a leading `'`, so `=cmd|' /C calc'!A0` or `@SUM(…)` stays text (OWASP's CSV
//! injection advice). The merchant import strips that `'` again ([`unguard`]), so cells
//! copied from a listed file into an import file read back unchanged.
use std::io::Write;

/// `value` as a spreadsheet will show it, never as a formula.
pub fn guard(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// The inverse of [`guard`] for a cell read back from a file this writer made.
pub fn unguard(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if guard(rest).len() != rest.len() => rest,
        _ => value,
    }
}

/// A CSV writer whose every cell goes through [`guard`].
pub struct SafeCsv<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> SafeCsv<W> {
    pub fn new(out: W) -> SafeCsv<W> {
        SafeCsv {
            inner: csv::Writer::from_writer(out),
        }
    }

    /// For a file people open in Excel: rows end in CRLF, as Excel and most Korean
    /// spreadsheet programs write (and expect) them. The caller writes the UTF-8 BOM.
    pub fn excel(out: W) -> SafeCsv<W> {
        SafeCsv {
            inner: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(out),
        }
    }

    /// One row; every cell guarded.
    pub fn row<I, S>(&mut self, cells: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let guarded: Vec<String> = cells
            .into_iter()
            .map(|c| guard(c.as_ref()).into_owned())
            .collect();
        self.inner.write_record(&guarded)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(rows: &[&[&str]]) -> String {
        let mut out = Vec::new();
        let mut w = SafeCsv::new(&mut out);
        for r in rows {
            w.row(r.iter()).expect("row");
        }
        w.flush().expect("flush");
        drop(w);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn formula_cells_are_written_as_text() {
        let text = written(&[&[
            "=cmd|' /C calc'!A0",
            "@SUM(A1:A2)",
            "+cmd",
            "-2+3",
            "\tTAB",
            "\rCR",
            "행복분식",
            "",
        ]]);
        assert_eq!(
            text,
            "'=cmd|' /C calc'!A0,'@SUM(A1:A2),'+cmd,'-2+3,'\tTAB,\"'\rCR\",행복분식,\n"
        );
    }

    #[test]
    fn excel_rows_end_in_crlf_and_stay_guarded() {
        let mut out = Vec::new();
        let mut w = SafeCsv::excel(&mut out);
        w.row(["=1+1", "행복분식"]).expect("row");
        w.row(["a\nb", "x"]).expect("row");
        w.flush().expect("flush");
        drop(w);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "'=1+1,행복분식\r\n\"a\nb\",x\r\n"
        );
    }

    #[test]
    fn unguard_reverses_guard_only() {
        for v in ["=1+1", "+821012345678", "@x", "plain", "'quoted", "", "-"] {
            assert_eq!(unguard(&guard(v)), v, "{v}");
        }
        assert_eq!(
            unguard("'plain"),
            "'plain",
            "a ' the writer did not add stays"
        );
    }
}
