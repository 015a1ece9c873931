//! A small, strict `multipart/form-data` reader (RFC 7578) over a body already in memory: parts are
//! delimited by `--boundary` lines with CRLF, each with its headers (`Content-Disposition: form-data;
//! name=...; filename=...`, `Content-Type`), and the body ends with the close delimiter. Anything else is
//! malformed: no guessing at bare LF, a missing close delimiter or a part without a name.

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    /// The part's `Content-Type`, when it gave one.
    pub content_type: Option<String>,
    pub data: &'a [u8],
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The parts of `body`, in order.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, FormError> {
    let first = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    // The preamble (ignored, RFC 2046) ends at the first delimiter.
    let start = if body.starts_with(first.as_bytes()) {
        first.len()
    } else {
        find(body, delimiter.as_bytes()).ok_or(FormError::Malformed)? + delimiter.len()
    };
    let mut rest = &body[start..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(FormError::Malformed)?;
        let end = find(rest, delimiter.as_bytes()).ok_or(FormError::Malformed)?;
        parts.push(part(&rest[..end])?);
        rest = &rest[end + delimiter.len()..];
    }
}

fn part(raw: &[u8]) -> Result<Part<'_>, FormError> {
    let split = find(raw, b"\r\n\r\n").ok_or(FormError::Malformed)?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| FormError::Malformed)?;
    let data = &raw[split + 4..];
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
    Ok(Part { name: name.ok_or(FormError::Malformed)?, filename, content_type, data })
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

    const BODY: &[u8] = b"--xyz\r\nContent-Disposition: form-data; name=\"audio_file\"; filename=\"a \\\"b\\\".aac\"\r\n\
Content-Type: audio/aac\r\n\r\n\x00\x01\r\n\x02\r\n--xyz\r\nContent-Disposition: form-data; name=note\r\n\r\nhi\r\n--xyz--\r\n";

    #[test]
    fn reads_parts_with_binary_data_and_quoted_names() {
        assert_eq!(boundary("multipart/form-data; boundary=\"xyz\"").unwrap(), "xyz");
        assert_eq!(boundary("application/json"), Err(FormError::NotMultipart));
        assert_eq!(boundary("multipart/form-data"), Err(FormError::Malformed));
        let parts = parse(BODY, "xyz").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "audio_file");
        assert_eq!(parts[0].filename.as_deref(), Some("a \"b\".aac"));
        assert_eq!(parts[0].content_type.as_deref(), Some("audio/aac"));
        assert_eq!(parts[0].data, b"\x00\x01\r\n\x02");
        assert_eq!((parts[1].name.as_str(), parts[1].data), ("note", &b"hi"[..]));
    }

    #[test]
    fn refuses_what_breaks_the_format() {
        for broken in [
            &b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno close"[..],
            b"--xyz\r\nno-colon-header\r\n\r\nx\r\n--xyz--",
            b"--xyz\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--xyz--",
            b"--xyz\r\nContent-Type: audio/aac\r\n\r\nx\r\n--xyz--",
            b"nothing here",
        ] {
            assert_eq!(parse(broken, "xyz"), Err(FormError::Malformed), "{}", String::from_utf8_lossy(broken));
        }
    }
}
