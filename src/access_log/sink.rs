//! One worker's access log output for one listener: its own `O_APPEND` file
//! descriptor and a line buffer. Lines are appended in memory and written in
//! batches (when the buffer passes `FLUSH_AT`, on the worker's 100 ms tick, and
//! on drain), each `write` holding whole lines only. On a pipe or terminal a
//! write is capped at `PIPE_BUF` bytes, which the kernel writes atomically, so
//! lines from different workers never interleave there either.
//!
//! `/dev/stdout` and `/dev/stderr` are the process's own descriptors 1 and 2,
//! duplicated rather than opened by name: that works when they are a socket
//! (systemd's journal), where opening `/dev/stdout` fails. They are always
//! written in line chunks of at most `PIPE_BUF`.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    os::unix::fs::FileTypeExt,
};

/// Write once this much is buffered, without waiting for the tick.
pub const FLUSH_AT: usize = 64 * 1024;
/// POSIX: writes of at most this many bytes to a pipe are atomic.
const PIPE_BUF: usize = 4096;

pub struct AccessLogSink {
    path: String,
    file: Option<File>,
    /// Whole lines only.
    pub buf: Vec<u8>,
    /// A pipe, FIFO, socket or terminal rather than a regular file.
    stream_like: bool,
}

impl AccessLogSink {
    pub fn open(path: &str) -> io::Result<AccessLogSink> {
        let mut sink = AccessLogSink {
            path: path.to_string(),
            file: None,
            buf: Vec::with_capacity(FLUSH_AT),
            stream_like: false,
        };
        sink.reopen()?;
        Ok(sink)
    }

    /// Open the path again (after logrotate moved the old file away).
    pub fn reopen(&mut self) -> io::Result<()> {
        if let Some(fd) = std_stream(&self.path) {
            self.file = Some(File::from(fd?));
            self.stream_like = true;
            return Ok(());
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)?;
        let ft = file.metadata()?.file_type();
        self.stream_like = ft.is_fifo() || ft.is_socket() || ft.is_char_device();
        self.file = Some(file);
        Ok(())
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn wants_flush(&self) -> bool {
        self.buf.len() >= FLUSH_AT
    }

    /// Write every buffered line. On error the lines are dropped (a full disk
    /// must not grow the proxy's memory without bound).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = match self.file.as_mut() {
            None => Ok(()),
            Some(file) if !self.stream_like => file.write_all(&self.buf),
            Some(file) => write_in_line_chunks(file, &self.buf, PIPE_BUF),
        };
        self.buf.clear();
        result
    }
}

/// A duplicate of stdout or stderr, for those two paths.
fn std_stream(path: &str) -> Option<io::Result<std::os::fd::OwnedFd>> {
    use std::os::fd::AsFd;
    match path {
        "/dev/stdout" => Some(io::stdout().as_fd().try_clone_to_owned()),
        "/dev/stderr" => Some(io::stderr().as_fd().try_clone_to_owned()),
        _ => None,
    }
}

/// Write `buf` in pieces of at most `cap` bytes that end on a line boundary (a
/// longer single line goes alone).
fn write_in_line_chunks(w: &mut impl Write, buf: &[u8], cap: usize) -> io::Result<()> {
    let mut rest = buf;
    while !rest.is_empty() {
        let window = &rest[..rest.len().min(cap)];
        let cut = match window.iter().rposition(|&b| b == b'\n') {
            Some(i) if rest.len() > cap => i + 1,
            _ if rest.len() <= cap => rest.len(),
            // One line longer than `cap`: send it whole.
            _ => rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1),
        };
        w.write_all(&rest[..cut])?;
        rest = &rest[cut..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the size of every write.
    struct Writes(Vec<Vec<u8>>);
    impl Write for Writes {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn chunks_end_on_line_boundaries() {
        let mut buf = Vec::new();
        for i in 0..50 {
            buf.extend_from_slice(format!("line {i:03} {}\n", "x".repeat(i)).as_bytes());
        }
        let mut w = Writes(Vec::new());
        write_in_line_chunks(&mut w, &buf, 100).unwrap();
        assert_eq!(w.0.concat(), buf);
        for chunk in &w.0 {
            assert!(chunk.ends_with(b"\n"));
            let lines = chunk.iter().filter(|&&b| b == b'\n').count();
            assert!(chunk.len() <= 100 || lines == 1, "{}", chunk.len());
        }
    }

    #[test]
    fn appends_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let mut sink = AccessLogSink::open(path.to_str().unwrap()).unwrap();
        sink.buf.extend_from_slice(b"one\n");
        sink.flush().unwrap();
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        sink.reopen().unwrap();
        sink.buf.extend_from_slice(b"two\n");
        sink.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two\n");
        assert_eq!(
            std::fs::read(dir.path().join("access.log.1")).unwrap(),
            b"one\n"
        );
    }
}
