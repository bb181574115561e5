//! Tracing: readable text locally, JSON lines in production. Every line passes through
//! [`meoktong_domain::mask::mask_text`], so no full phone number or email reaches a log.
use meoktong_config::LogFormat;
use std::io::Write;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Makes writers that mask personal data in each formatted event before it reaches `W`.
#[derive(Clone, Default)]
pub struct Masking<F>(pub F);

/// Buffers one event, masks it, writes it on drop (the formatter writes one event per writer).
pub struct MaskingWriter<W: Write> {
    buf: Vec<u8>,
    inner: W,
}

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for MaskingWriter<W> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let masked = meoktong_domain::mask::mask_text(&text);
        let _ = self.inner.write_all(masked.as_bytes());
        let _ = self.inner.flush();
    }
}

impl<'a, F> MakeWriter<'a> for Masking<F>
where
    F: MakeWriter<'a>,
{
    type Writer = MaskingWriter<F::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter {
            buf: Vec::with_capacity(256),
            inner: self.0.make_writer(),
        }
    }
}

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Masking(std::io::stderr));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_never_hold_a_full_phone_number_or_email() {
        let capture = Capture::default();
        let sink = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(Masking(move || sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                to = "+821012345678",
                email = "kim@example.com",
                "sending to 010-9876-5432"
            );
        });
        let text = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf8");
        assert!(text.contains("\"message\""), "{text}");
        for secret in ["1012345678", "kim@example.com", "9876-5432"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            text.contains("5678"),
            "the last digits stay for support: {text}"
        );
    }
}
