//! A small, strict `multipart/form-data` reader (RFC 7578) that works as the body arrives: it is fed chunks
//! of any size and tells what it found — a part's head, pieces of its data, its end — holding back only
//! what could be the start of the next delimiter, so a file part of any size passes through in bounded
//! memory. Parts are delimited by `--boundary` lines with CRLF, each with its headers
//! (`Content-Disposition: form-data; name=...; filename=...`, `Content-Type`), and the body ends with the
//! close delimiter. Anything else is malformed: no guessing at bare LF, a missing close delimiter or a part
//! without a name.

/// The head of one part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHead {
    pub name: String,
    pub filename: Option<String>,
    /// The part's `Content-Type`, when it gave one.
    pub content_type: Option<String>,
}

/// What the reader found in the bytes it was fed, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A part starts.
    Part(PartHead),
    /// A piece of the current part's data.
    Data(Vec<u8>),
    /// The current part ended.
    PartEnd,
}

/// Why a body is not a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    /// The request is not `multipart/form-data` (or names no boundary).
    NotMultipart,
    /// The body breaks the format.
    Malformed,
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Result<String, FormError> {
    let mut pieces = content_type.split(';');
    let essence = pieces.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return Err(FormError::NotMultipart);
    }
    let boundary = pieces
        .filter_map(|piece| piece.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim().trim_matches('"').to_string())
        .ok_or(FormError::Malformed)?;
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(FormError::Malformed);
    }
    Ok(boundary)
}

/// The most bytes a part's headers may take.
const MAX_HEAD: usize = 16 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (a preamble is ignored, RFC 2046).
    Preamble,
    /// Just after a delimiter: `--` ends the form, CRLF starts a part.
    AfterDelimiter,
    /// Reading a part's headers.
    Head,
    /// Reading a part's data.
    Data,
    /// After the close delimiter (an epilogue is ignored).
    Done,
}

/// A form read as it arrives.
#[derive(Debug)]
pub struct FormReader {
    delimiter: Vec<u8>,
    buffer: Vec<u8>,
    state: State,
}

impl FormReader {
    /// A reader for a form with this boundary.
    pub fn new(boundary: &str) -> Self {
        // The body's first delimiter may come without the CRLF that precedes every other one.
        Self { delimiter: format!("\r\n--{boundary}").into_bytes(), buffer: b"\r\n".to_vec(), state: State::Preamble }
    }

    /// Reads `bytes`, appending what it found to `events`.
    pub fn feed(&mut self, bytes: &[u8], events: &mut Vec<Event>) -> Result<(), FormError> {
        if self.state == State::Done {
            return Ok(());
        }
        self.buffer.extend_from_slice(bytes);
        loop {
            let progressed = match self.state {
                State::Preamble => match find(&self.buffer, &self.delimiter) {
                    Some(at) => {
                        self.buffer.drain(..at + self.delimiter.len());
                        self.state = State::AfterDelimiter;
                        true
                    }
                    None => {
                        self.keep_tail();
                        false
                    }
                },
                State::AfterDelimiter if self.buffer.len() < 2 => false,
                State::AfterDelimiter => {
                    match &self.buffer[..2] {
                        b"--" => self.state = State::Done,
                        b"\r\n" => self.state = State::Head,
                        _ => return Err(FormError::Malformed),
                    }
                    self.buffer.drain(..2);
                    true
                }
                State::Head => match find(&self.buffer, b"\r\n\r\n") {
                    Some(at) => {
                        events.push(Event::Part(head(&self.buffer[..at])?));
                        self.buffer.drain(..at + 4);
                        self.state = State::Data;
                        true
                    }
                    None if self.buffer.len() > MAX_HEAD => return Err(FormError::Malformed),
                    None => false,
                },
                State::Data => match find(&self.buffer, &self.delimiter) {
                    Some(at) => {
                        if at > 0 {
                            events.push(Event::Data(self.buffer[..at].to_vec()));
                        }
                        events.push(Event::PartEnd);
                        self.buffer.drain(..at + self.delimiter.len());
                        self.state = State::AfterDelimiter;
                        true
                    }
                    None => {
                        let safe = self.buffer.len().saturating_sub(self.delimiter.len() - 1);
                        if safe > 0 {
                            events.push(Event::Data(self.buffer.drain(..safe).collect()));
                        }
                        false
                    }
                },
                State::Done => {
                    self.buffer.clear();
                    false
                }
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Checks that the body ended where a form may end: after its close delimiter.
    pub fn finish(&self) -> Result<(), FormError> {
        if self.state == State::Done { Ok(()) } else { Err(FormError::Malformed) }
    }

    /// Drops all but what could be the start of a delimiter.
    fn keep_tail(&mut self) {
        let keep = self.delimiter.len() - 1;
        if self.buffer.len() > keep {
            self.buffer.drain(..self.buffer.len() - keep);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn head(raw: &[u8]) -> Result<PartHead, FormError> {
    let head = std::str::from_utf8(raw).map_err(|_| FormError::Malformed)?;
    let (mut name, mut filename, mut content_type) = (None, None, None);
    for line in head.split("\r\n") {
        let (key, value) = line.split_once(':').ok_or(FormError::Malformed)?;
        match key.trim().to_ascii_lowercase().as_str() {
            "content-disposition" => {
                let mut pieces = value.split(';');
                if !pieces.next().unwrap_or("").trim().eq_ignore_ascii_case("form-data") {
                    return Err(FormError::Malformed);
                }
                for piece in pieces {
                    let Some((key, value)) = piece.split_once('=') else { return Err(FormError::Malformed) };
                    let value = unquote(value.trim())?;
                    match key.trim().to_ascii_lowercase().as_str() {
                        "name" => name = Some(value),
                        "filename" => filename = Some(value),
                        _ => {}
                    }
                }
            }
            "content-type" => content_type = Some(value.trim().to_string()),
            _ => {}
        }
    }
    Ok(PartHead { name: name.ok_or(FormError::Malformed)?, filename, content_type })
}

/// A parameter value: a quoted string (backslash escapes, as browsers and Python clients write them) or a
/// token.
fn unquote(value: &str) -> Result<String, FormError> {
    let Some(inner) = value.strip_prefix('"') else { return Ok(value.to_string()) };
    let inner = inner.strip_suffix('"').ok_or(FormError::Malformed)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().ok_or(FormError::Malformed)? } else { c });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"audio_file\"; filename=\"a \\\"b\\\".aac\"\r\n\
Content-Type: audio/aac\r\n\r\n\x00\x01\r\n\x02\r\n--xy\r\n--xyz\r\nContent-Disposition: form-data; name=note\r\n\r\nhi\r\n--xyz--\r\nepilogue";

    /// A form fed in pieces of `size` bytes, as (head, data) per part.
    fn read(body: &[u8], size: usize) -> Result<Vec<(PartHead, Vec<u8>)>, FormError> {
        let mut reader = FormReader::new("xyz");
        let mut events = Vec::new();
        for piece in body.chunks(size) {
            reader.feed(piece, &mut events)?;
        }
        reader.finish()?;
        let mut parts: Vec<(PartHead, Vec<u8>)> = Vec::new();
        let mut open = false;
        for event in events {
            match event {
                Event::Part(head) => {
                    assert!(!open, "a part starts inside another");
                    open = true;
                    parts.push((head, Vec::new()));
                }
                Event::Data(data) => parts.last_mut().expect("data outside a part").1.extend(data),
                Event::PartEnd => open = false,
            }
        }
        assert!(!open, "a part never ended");
        Ok(parts)
    }

    #[test]
    fn reads_parts_with_binary_data_and_quoted_names_however_the_body_is_cut() {
        assert_eq!(boundary("multipart/form-data; boundary=\"xyz\"").unwrap(), "xyz");
        assert_eq!(boundary("application/json"), Err(FormError::NotMultipart));
        assert_eq!(boundary("multipart/form-data"), Err(FormError::Malformed));
        for size in [1, 2, 3, 5, 7, 11, 64, BODY.len()] {
            let parts = read(BODY, size).unwrap();
            assert_eq!(parts.len(), 2, "pieces of {size}");
            assert_eq!(parts[0].0.name, "audio_file");
            assert_eq!(parts[0].0.filename.as_deref(), Some("a \"b\".aac"));
            assert_eq!(parts[0].0.content_type.as_deref(), Some("audio/aac"));
            assert_eq!(parts[0].1, b"\x00\x01\r\n\x02\r\n--xy", "pieces of {size}");
            assert_eq!((parts[1].0.name.as_str(), parts[1].1.as_slice()), ("note", &b"hi"[..]));
        }
    }

    #[test]
    fn a_large_part_passes_in_bounded_memory() {
        let mut reader = FormReader::new("xyz");
        let mut events = Vec::new();
        reader.feed(b"--xyz\r\nContent-Disposition: form-data; name=f; filename=x\r\n\r\n", &mut events).unwrap();
        let mut seen = 0;
        for _ in 0..1000 {
            reader.feed(&[7u8; 4096], &mut events).unwrap();
            assert!(reader.buffer.len() < 4096 + 16, "the reader holds back only a delimiter's worth");
            seen += events.drain(..).map(|event| if let Event::Data(d) = event { d.len() } else { 0 }).sum::<usize>();
        }
        reader.feed(b"\r\n--xyz--", &mut events).unwrap();
        seen += events.iter().map(|event| if let Event::Data(d) = event { d.len() } else { 0 }).sum::<usize>();
        reader.finish().unwrap();
        assert_eq!(seen, 4096 * 1000);
    }

    #[test]
    fn refuses_what_breaks_the_format() {
        for broken in [
            &b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno close"[..],
            b"--xyz\r\nno-colon-header\r\n\r\nx\r\n--xyz--",
            b"--xyz\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--xyz--",
            b"--xyz\r\nContent-Type: audio/aac\r\n\r\nx\r\n--xyz--",
            b"--xyzjunk",
            b"nothing here",
        ] {
            assert_eq!(read(broken, 3), Err(FormError::Malformed), "{}", String::from_utf8_lossy(broken));
        }
    }
}
