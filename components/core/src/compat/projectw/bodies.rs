//! Project-W's request bodies and enumerated query values, checked as its FastAPI models check them (422 lists
//! with pydantic's types and messages), turned into the `projectw` services' inputs.

use super::wire::{self, Refusal};
use crate::projectw::TRANSCRIPT_TYPES;
use crate::projectw::runners::{RunnerInfo, RunnerResult};
use serde::Deserialize;
use serde_json::{Value as Json, json};

/// `RunnerRegisterRequest`: `name` and `git_hash` at most 40 characters, `priority` above 0.
pub fn register(bytes: &[u8]) -> Result<RunnerInfo, Refusal> {
    let info: RunnerInfo = wire::body(bytes)?;
    for (field, value) in [("name", &info.name), ("git_hash", &info.git_hash)] {
        if value.chars().count() > 40 {
            return Err(Refusal::unprocessable(vec![json!({"type": "string_too_long", "loc": ["body", field],
                "msg": "String should have at most 40 characters", "input": value, "ctx": {"max_length": 40}})]));
        }
    }
    if info.priority <= 0 {
        return Err(Refusal::unprocessable(vec![json!({"type": "greater_than", "loc": ["body", "priority"],
            "msg": "Input should be greater than 0", "input": info.priority, "ctx": {"gt": 0}})]));
    }
    Ok(info)
}

#[derive(Deserialize)]
struct HeartbeatBody {
    #[serde(default)]
    progress: f64,
}

/// `HeartbeatRequest`: the progress, 0–100.
pub fn heartbeat(bytes: &[u8]) -> Result<f64, Refusal> {
    let progress = wire::body::<HeartbeatBody>(bytes)?.progress;
    let (kind, message, ctx) = if progress < 0.0 {
        ("greater_than_equal", "Input should be greater than or equal to 0", json!({"ge": 0.0}))
    } else if progress > 100.0 {
        ("less_than_equal", "Input should be less than or equal to 100", json!({"le": 100.0}))
    } else if progress.is_nan() {
        ("finite_number", "Input should be a finite number", Json::Null)
    } else {
        return Ok(progress);
    };
    let mut error = json!({"type": kind, "loc": ["body", "progress"], "msg": message, "input": progress});
    if !ctx.is_null() {
        error["ctx"] = ctx;
    }
    Err(Refusal::unprocessable(vec![error]))
}

/// A transcript in every type; `as_json` is WhisperX's JSON object.
#[derive(Deserialize)]
struct Transcript {
    as_txt: String,
    as_srt: String,
    as_tsv: String,
    as_vtt: String,
    as_json: serde_json::Map<String, Json>,
}

#[derive(Deserialize)]
struct ResultBody {
    #[serde(default)]
    error_msg: Option<String>,
    #[serde(default)]
    transcript: Option<Transcript>,
}

/// `RunnerSubmitResultRequest`: a transcript, or an error message (422 as Project-W's validator when both
/// are missing). A transcript wins when both are sent, as in Project-W.
pub fn result(bytes: &[u8]) -> Result<RunnerResult, Refusal> {
    let body: ResultBody = wire::body(bytes)?;
    match (body.transcript, body.error_msg) {
        (Some(t), _) => {
            let json = Json::Object(t.as_json).to_string();
            Ok(RunnerResult::Transcript([t.as_txt, t.as_srt, t.as_tsv, t.as_vtt, json]))
        }
        (None, Some(message)) => Ok(RunnerResult::Error(message)),
        (None, None) => {
            let input: Json = serde_json::from_slice(bytes).unwrap_or(Json::Null);
            Err(Refusal::unprocessable(vec![json!({"type": "value_error", "loc": ["body"],
                "msg": "Value error, Either `error_msg` or `transcript` must be set for job submission",
                "input": input, "ctx": {"error": {}}})]))
        }
    }
}

/// `/jobs/get`'s `sort_key`: whether the window is ordered by file name (else by creation).
pub fn sort_by_file_name(sort_key: &str) -> Result<bool, Refusal> {
    match sort_key {
        "creation_time" => Ok(false),
        "filename" => Ok(true),
        other => Err(Refusal::invalid(
            "enum",
            &["query", "sort_key"],
            "Input should be 'creation_time' or 'filename'",
            Json::String(other.into()),
        )),
    }
}

/// `/jobs/get`'s `start_index` or `end_index`: at least 0.
pub fn index(name: &str, value: i64) -> Result<i64, Refusal> {
    if value < 0 {
        return Err(Refusal::unprocessable(vec![json!({"type": "greater_than_equal", "loc": ["query", name],
            "msg": "Input should be greater than or equal to 0", "input": value.to_string(), "ctx": {"ge": 0}})]));
    }
    Ok(value)
}

/// `/jobs/download_transcript`'s `transcript_type`: one of [`TRANSCRIPT_TYPES`].
pub fn transcript_type(kind: &str) -> Result<&str, Refusal> {
    if TRANSCRIPT_TYPES.contains(&kind) {
        return Ok(kind);
    }
    Err(Refusal::invalid(
        "enum",
        &["query", "transcript_type"],
        "Input should be 'as_txt', 'as_srt', 'as_tsv', 'as_vtt' or 'as_json'",
        Json::String(kind.into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_bodies_refuse_as_project_w_does() {
        let long = format!(r#"{{"name":"{}","version":"1","git_hash":"g","source_code_url":"u"}}"#, "n".repeat(41));
        assert_eq!(register(long.as_bytes()).unwrap_err().detail[0]["type"], "string_too_long");
        let zero = br#"{"name":"n","version":"1","git_hash":"g","source_code_url":"u","priority":0}"#;
        assert_eq!(register(zero).unwrap_err().detail[0]["loc"], json!(["body", "priority"]));
        let ok = br#"{"name":"n","version":"1","git_hash":"g","source_code_url":"u"}"#;
        assert_eq!(register(ok).unwrap().priority, 100);
        assert_eq!(heartbeat(br#"{"progress":150}"#).unwrap_err().detail[0]["type"], "less_than_equal");
        assert_eq!(heartbeat(br#"{"progress":-1}"#).unwrap_err().detail[0]["type"], "greater_than_equal");
        assert_eq!(heartbeat(br#"{"progress":42.5}"#).unwrap(), 42.5);
        assert_eq!(heartbeat(b"").unwrap_err(), Refusal::missing(&["body"]));
    }

    #[test]
    fn a_result_is_a_transcript_or_an_error() {
        assert_eq!(result(br#"{"error_msg":"boom"}"#).unwrap(), RunnerResult::Error("boom".into()));
        let transcript = br#"{"error_msg":null,"transcript":{"as_txt":"t","as_srt":"s","as_tsv":"v","as_vtt":"w","as_json":{"a":1}}}"#;
        let RunnerResult::Transcript(texts) = result(transcript).unwrap() else { panic!("not a transcript") };
        assert_eq!(texts, ["t", "s", "v", "w", r#"{"a":1}"#].map(String::from));
        assert_eq!(result(b"{}").unwrap_err().detail[0]["type"], "value_error");
    }

    #[test]
    fn query_values_are_checked() {
        assert!(sort_by_file_name("filename").unwrap());
        assert!(!sort_by_file_name("creation_time").unwrap());
        assert_eq!(sort_by_file_name("size").unwrap_err().status, 422);
        assert_eq!(index("start_index", -1).unwrap_err().status, 422);
        assert_eq!(transcript_type("as_srt").unwrap(), "as_srt");
        assert_eq!(transcript_type("as_pdf").unwrap_err().status, 422);
    }
}
