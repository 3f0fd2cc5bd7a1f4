//! Access logs: one line per request, in Envoy's format language.
//!
//! A listener's `access_log.format` (or `json_format`) is compiled once at
//! config time into segments (`format.rs`; one operator each, `segment.rs`;
//! `%START_TIME(FORMAT)%` in `time.rs`; JSON escaping in `json.rs`), and its
//! `filter` into an `AccessLogFilter` (`filter.rs`). Each worker renders its lines into its own buffer
//! and writes whole lines in batches to its own `O_APPEND` file descriptor
//! (`sink.rs`): no write per request, no lock shared between cores, and lines
//! from different workers never interleave. SIGUSR1 asks every worker to reopen
//! its files (for logrotate) on its next tick.

pub mod filter;
pub mod format;
pub mod json;
mod segment;
pub mod sink;
pub mod time;

use std::sync::atomic::{AtomicU64, Ordering};

pub use filter::{AccessLogFilter, Compare};
pub use format::{
    AccessLogFormat, FormatError, FormatSource, LogRecord, RequestCapture, ResponseDetails,
    ResponseFlags,
};
pub use segment::operator_names;
pub use sink::AccessLogSink;

/// Envoy's default access log format.
pub const DEFAULT_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n";

/// Bumped by SIGUSR1; each worker compares it on its tick and reopens its files.
/// Process-wide so the handler can be installed before any listener exists.
pub static REOPEN: AtomicU64 = AtomicU64::new(0);

/// SIGUSR1 → every worker reopens its access log files on its next tick.
pub fn install_reopen_signal() -> std::io::Result<()> {
    use signal_hook::{consts::SIGUSR1, iterator::Signals};
    let mut signals = Signals::new([SIGUSR1])?;
    std::thread::Builder::new()
        .name("ringway-logrotate".into())
        .spawn(move || {
            for _ in signals.forever() {
                tracing::info!("SIGUSR1: reopening access logs");
                REOPEN.fetch_add(1, Ordering::Relaxed);
            }
        })?;
    Ok(())
}

/// The machine's host name (`%HOSTNAME%`), read once.
pub fn hostname() -> Option<&'static str> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` is valid for `buf.len()` bytes; gethostname writes at
        // most that many and we read only up to the first NUL.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return None;
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8(buf[..end].to_vec()).ok()
    })
    .as_deref()
}

/// `2024-05-01T12:34:56.789Z` (Envoy's `%START_TIME%`), from milliseconds since the epoch.
pub fn write_iso8601(out: &mut Vec<u8>, millis: u64) {
    let secs = millis / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let two = |out: &mut Vec<u8>, v: u64| {
        out.push(b'0' + (v / 10 % 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    let y = y as u64;
    two(out, y / 100);
    two(out, y % 100);
    out.push(b'-');
    two(out, m as u64);
    out.push(b'-');
    two(out, d as u64);
    out.push(b'T');
    two(out, rem / 3600);
    out.push(b':');
    two(out, rem / 60 % 60);
    out.push(b':');
    two(out, rem % 60);
    out.push(b'.');
    let ms = millis % 1000;
    out.push(b'0' + (ms / 100) as u8);
    two(out, ms % 100);
    out.push(b'Z');
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, UTC).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_start_time_like_envoy() {
        let mut out = Vec::new();
        write_iso8601(&mut out, 0);
        assert_eq!(out, b"1970-01-01T00:00:00.000Z");
        out.clear();
        // 2024-02-29T23:59:58.007Z
        write_iso8601(&mut out, 1_709_251_198_007);
        assert_eq!(String::from_utf8(out).unwrap(), "2024-02-29T23:59:58.007Z");
    }
}
