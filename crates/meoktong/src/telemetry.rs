//! Tracing: readable text locally, JSON lines in production. Every line passes through
//! [`meoktong_domain::mask::mask_text`], so no full phone number or email reaches a log.
use meoktong_config::LogFormat;
use std::io::Write;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Writes to stderr, masking personal data in each formatted line.
#[derive(Clone, Copy, Default)]
pub struct MaskingStderr;

pub struct MaskingWriter {
    buf: Vec<u8>,
}

impl Write for MaskingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskingWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let masked = meoktong_domain::mask::mask_text(&text);
        let _ = std::io::stderr().write_all(masked.as_bytes());
    }
}

impl<'a> MakeWriter<'a> for MaskingStderr {
    type Writer = MaskingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter { buf: Vec::with_capacity(256) }
    }
}

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(MaskingStderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
