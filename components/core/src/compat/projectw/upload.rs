//! `/jobs/submit_job`'s form as it arrives: the first `audio_file` part with a file name is written to an
//! [`Upload`] chunk by chunk, within the upload limit; Project-W's refusals for what is not such a form.

use super::multipart::{self, Event, FormError, FormReader};
use super::wire::Refusal;
use crate::db::Db;
use crate::http::BodySource;
use crate::projectw::jobs::Upload;

/// The field that carries the file.
pub const AUDIO_FIELD: &str = "audio_file";

/// The upload limit when the variable `max_upload_bytes` does not give one: 1 GiB.
pub const DEFAULT_LIMIT: u64 = 1 << 30;

/// The upload limit from the variable `max_upload_bytes` (bytes).
pub fn limit(variable: Option<&str>) -> u64 {
    variable.and_then(|value| value.trim().parse().ok()).unwrap_or(DEFAULT_LIMIT)
}

fn unparsable() -> Refusal {
    Refusal::bad_request("There was an error parsing the body")
}

/// The form's boundary: a body that is no form is missing its `audio_file` (422), a broken content type 400.
pub fn boundary(content_type: &str) -> Result<String, Refusal> {
    match multipart::boundary(content_type) {
        Ok(boundary) => Ok(boundary),
        Err(FormError::NotMultipart) => Err(Refusal::missing(&["body", AUDIO_FIELD])),
        Err(FormError::Malformed) => Err(unparsable()),
    }
}

/// Reads the form as it arrives, writing the first `audio_file` part with a file name to `upload`: answers
/// its file name. Only `audio/*` and `video/*` files are taken (415); other fields are read and ignored; a
/// body over `limit` bytes is 413, a broken form 400.
pub fn receive(
    db: &dyn Db,
    body: &mut dyn BodySource,
    boundary: &str,
    upload: &mut Upload,
    limit: u64,
) -> Result<String, Refusal> {
    let mut reader = FormReader::new(boundary);
    let (mut events, mut read) = (Vec::new(), 0u64);
    let (mut file_name, mut in_file) = (None, false);
    while let Some(chunk) = body.next_chunk()? {
        read += chunk.len() as u64;
        if read > limit {
            return Err(Refusal::new(413, format!("The uploaded file is larger than the limit of {limit} bytes")));
        }
        reader.feed(&chunk, &mut events).map_err(|_| unparsable())?;
        for event in events.drain(..) {
            match event {
                Event::Part(part) if part.name == AUDIO_FIELD && part.filename.is_some() && file_name.is_none() => {
                    let kind = part.content_type.unwrap_or_default();
                    if !(kind.starts_with("audio") || kind.starts_with("video")) {
                        return Err(Refusal::new(
                            415,
                            format!("The provided file is not an audio or video file but is of type {kind}"),
                        ));
                    }
                    file_name = part.filename;
                    in_file = true;
                }
                Event::Data(data) if in_file => upload.write(db, &data)?,
                Event::PartEnd => in_file = false,
                Event::Part(_) | Event::Data(_) => {}
            }
        }
    }
    reader.finish().map_err(|_| unparsable())?;
    file_name.ok_or_else(|| Refusal::missing(&["body", AUDIO_FIELD]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::NativeDb;
    use crate::http::WholeBody;

    fn form(content_type: &str, data: &[u8]) -> Vec<u8> {
        let mut body = format!(
            "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--b\r\nContent-Disposition: form-data; \
             name=\"audio_file\"; filename=\"a.aac\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n--b--\r\n");
        body
    }

    #[test]
    fn the_audio_part_is_stored_and_everything_else_refused_as_project_w_does() {
        let db = NativeDb::memory().unwrap();
        db.execute("INSERT INTO users (id, username, email, created_at) VALUES (1, 'ada', 'ada@x', 0)", &[]).unwrap();
        let receive_one = |body: Vec<u8>, limit: u64| {
            let mut upload = Upload::begin(&db, 1, 0).unwrap();
            let answer = receive(&db, &mut WholeBody(Some(body)), "b", &mut upload, limit);
            (answer, upload.bytes())
        };
        let (name, bytes) = receive_one(form("audio/aac", &[7; 1000]), 1 << 20);
        assert_eq!((name.unwrap(), bytes), ("a.aac".to_string(), 1000));
        assert_eq!(receive_one(form("text/plain", b"x"), 1 << 20).0.unwrap_err().status, 415);
        assert_eq!(receive_one(form("audio/aac", &[7; 1000]), 500).0.unwrap_err().status, 413);
        assert_eq!(receive_one(b"--b\r\nno".to_vec(), 1 << 20).0.unwrap_err().status, 400);
        assert_eq!(boundary("application/json").unwrap_err(), Refusal::missing(&["body", AUDIO_FIELD]));
        assert_eq!(limit(Some(" 1024 ")), 1024);
        assert_eq!(limit(None), DEFAULT_LIMIT);
    }
}
