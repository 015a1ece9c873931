//! Job settings (`JobSettingsRequest` in, `JobSettingsResponse` out): every key optional on the way in with
//! Project-W's defaults, every key present on the way out (the runner requires them all), and Project-W's
//! field constraints and cross-field rules.

use super::wire::Refusal;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

/// The models Project-W offers.
pub const MODELS: &[&str] =
    &["tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en", "turbo", "large"];

/// Whisper's languages (`JobLangEnum`).
pub const LANGUAGES: &[&str] = &[
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy", "da", "de", "el", "en",
    "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "haw", "he", "hi", "hr", "ht", "hu", "hy", "id", "is",
    "it", "ja", "jw", "ka", "kk", "km", "kn", "ko", "la", "lb", "ln", "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn",
    "mr", "ms", "mt", "my", "ne", "nl", "nn", "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si", "sk",
    "sl", "sn", "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl", "tr", "tt", "uk", "ur", "uz",
    "vi", "yi", "yo", "yue", "zh",
];

/// Languages WhisperX can align (`supported_alignment_languages`).
pub const ALIGNMENT_LANGUAGES: &[&str] = &[
    "en", "fr", "de", "es", "it", "ja", "zh", "nl", "uk", "pt", "ar", "cs", "ru", "pl", "hu", "fi", "fa", "el", "tr",
    "da", "he", "vi", "ko", "ur", "te", "hi", "ca", "ml", "no", "nn", "sk", "sl", "hr", "ro", "eu", "gl", "ka", "lv",
    "tl", "sv",
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Processing {
    pub highlight_words: bool,
    pub max_line_count: Option<i64>,
    pub max_line_width: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Alignment {
    pub processing: Processing,
    pub return_char_alignments: bool,
    pub interpolate_method: String,
}

impl Default for Alignment {
    fn default() -> Self {
        Self { processing: Processing::default(), return_char_alignments: false, interpolate_method: "nearest".into() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Diarization {
    pub min_speakers: Option<i64>,
    pub max_speakers: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Vad {
    pub vad_onset: f64,
    pub vad_offset: f64,
    pub chunk_size: i64,
}

impl Default for Vad {
    fn default() -> Self {
        Self { vad_onset: 0.5, vad_offset: 0.363, chunk_size: 30 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Asr {
    pub beam_size: i64,
    pub patience: f64,
    pub length_penalty: f64,
    pub temperature: f64,
    pub temperature_increment_on_fallback: f64,
    pub compression_ratio_threshold: f64,
    pub log_prob_threshold: f64,
    pub no_speech_threshold: f64,
    pub initial_prompt: Option<String>,
    pub suppress_tokens: Vec<i64>,
    pub suppress_numerals: bool,
}

impl Default for Asr {
    fn default() -> Self {
        Self {
            beam_size: 5,
            patience: 1.0,
            length_penalty: 1.0,
            temperature: 0.0,
            temperature_increment_on_fallback: 0.2,
            compression_ratio_threshold: 2.4,
            log_prob_threshold: -1.0,
            no_speech_threshold: 0.6,
            initial_prompt: None,
            suppress_tokens: vec![-1],
            suppress_numerals: false,
        }
    }
}

/// A job's settings, as stored and as the runner receives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct JobSettings {
    pub task: String,
    pub model: String,
    pub language: Option<String>,
    pub alignment: Option<Alignment>,
    pub diarization: Option<Diarization>,
    pub vad_settings: Vad,
    pub asr_settings: Asr,
    pub email_notification: bool,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            task: "transcribe".into(),
            model: "large".into(),
            language: None,
            alignment: Some(Alignment::default()),
            diarization: None,
            vad_settings: Vad::default(),
            asr_settings: Asr::default(),
            email_notification: false,
        }
    }
}

fn invalid(loc: &[&str], msg: String, input: Json) -> Refusal {
    let mut full = vec!["body"];
    full.extend_from_slice(loc);
    Refusal::invalid("value_error", &full, format!("Value error, {msg}"), input)
}

fn check(ok: bool, loc: &[&str], msg: &str, input: Json) -> Result<(), Refusal> {
    if ok { Ok(()) } else { Err(invalid(loc, msg.to_string(), input)) }
}

impl JobSettings {
    /// Parses a `JobSettingsRequest` body (absent keys take the defaults) and checks it.
    pub fn from_request(body: &[u8]) -> Result<Self, Refusal> {
        let settings: Self = if body.is_empty() { Self::default() } else { super::wire::body(body)? };
        settings.validate()?;
        Ok(settings)
    }

    /// Project-W's constraints: enums, ranges, and the cross-field rules of `JobSettingsRunnerResponse`.
    pub fn validate(&self) -> Result<(), Refusal> {
        check(
            matches!(self.task.as_str(), "transcribe" | "translate"),
            &["task"],
            "Input should be 'transcribe' or 'translate'",
            json!(self.task),
        )?;
        check(
            MODELS.contains(&self.model.as_str()),
            &["model"],
            "Input should be one of the models Project-W offers",
            json!(self.model),
        )?;
        if let Some(language) = &self.language {
            check(
                LANGUAGES.contains(&language.as_str()),
                &["language"],
                "Input should be a language Whisper knows",
                json!(language),
            )?;
        }
        if let Some(alignment) = &self.alignment {
            check(
                matches!(alignment.interpolate_method.as_str(), "nearest" | "linear" | "ignore"),
                &["alignment", "interpolate_method"],
                "Input should be 'nearest', 'linear' or 'ignore'",
                json!(alignment.interpolate_method),
            )?;
            let processing = &alignment.processing;
            for (name, value) in
                [("max_line_count", processing.max_line_count), ("max_line_width", processing.max_line_width)]
            {
                check(
                    value.is_none_or(|v| v >= 1),
                    &["alignment", "processing", name],
                    "Input should be greater than or equal to 1",
                    json!(value),
                )?;
            }
            check(
                processing.max_line_count.is_none() || processing.max_line_width.is_some(),
                &["alignment", "processing"],
                "max_line_width can't be None if max_line_count is set",
                json!(processing),
            )?;
        }
        if let Some(diarization) = &self.diarization {
            for (name, value) in
                [("min_speakers", diarization.min_speakers), ("max_speakers", diarization.max_speakers)]
            {
                check(
                    value.is_none_or(|v| v >= 0),
                    &["diarization", name],
                    "Input should be greater than or equal to 0",
                    json!(value),
                )?;
            }
            if let (Some(min), Some(max)) = (diarization.min_speakers, diarization.max_speakers) {
                check(
                    max >= min,
                    &["diarization"],
                    "max_speakers can't be smaller than min_speakers",
                    json!(diarization),
                )?;
            }
        }
        let vad = &self.vad_settings;
        for (name, value) in [("vad_onset", vad.vad_onset), ("vad_offset", vad.vad_offset)] {
            check(
                value > 0.0 && value < 1.0,
                &["vad_settings", name],
                "Input should be between 0 and 1 (exclusive)",
                json!(value),
            )?;
        }
        check(
            (1..=30).contains(&vad.chunk_size),
            &["vad_settings", "chunk_size"],
            "Input should be between 1 and 30",
            json!(vad.chunk_size),
        )?;
        let asr = &self.asr_settings;
        check(
            asr.beam_size >= 1,
            &["asr_settings", "beam_size"],
            "Input should be greater than or equal to 1",
            json!(asr.beam_size),
        )?;
        check(
            asr.patience > 0.0,
            &["asr_settings", "patience"],
            "Input should be greater than 0",
            json!(asr.patience),
        )?;
        check(
            (0.0..=1.0).contains(&asr.length_penalty),
            &["asr_settings", "length_penalty"],
            "Input should be between 0 and 1",
            json!(asr.length_penalty),
        )?;
        for (name, value) in [
            ("temperature", asr.temperature),
            ("temperature_increment_on_fallback", asr.temperature_increment_on_fallback),
            ("compression_ratio_threshold", asr.compression_ratio_threshold),
        ] {
            check(value >= 0.0, &["asr_settings", name], "Input should be greater than or equal to 0", json!(value))?;
        }
        check(
            asr.initial_prompt.as_ref().is_none_or(|p| p.chars().count() <= 2000),
            &["asr_settings", "initial_prompt"],
            "String should have at most 2000 characters",
            Json::Null,
        )?;
        let english_only = matches!(self.model.as_str(), "tiny.en" | "base.en" | "small.en" | "medium.en");
        check(
            !english_only || self.language.as_deref() == Some("en"),
            &[],
            "If you want to use the 'tiny.en', 'base.en', 'small.en' or 'medium.en' models, you have to set the language to 'en'",
            Json::Null,
        )?;
        check(
            self.task != "translate" || self.alignment.is_none(),
            &[],
            "Alignment not supported for the translation task",
            Json::Null,
        )?;
        if let (Some(_), Some(language)) = (&self.alignment, &self.language) {
            check(
                ALIGNMENT_LANGUAGES.contains(&language.as_str()),
                &[],
                &format!(
                    "language {language} is not supported for alignment. Either disable alignment or choose another language"
                ),
                Json::Null,
            )?;
        }
        check(
            !(self.task == "translate" && self.language.as_deref() == Some("en")),
            &[],
            "Cannot translate English into English",
            Json::Null,
        )
    }

    /// The stored JSON text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Settings read back from their stored JSON text (the defaults if it no longer parses).
    pub fn from_text(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_project_w_defaults_with_every_key() {
        let expected: Json = serde_json::from_str(
            r#"{"task": "transcribe", "model": "large", "language": null, "alignment": {"processing": {"highlight_words": false, "max_line_count": null, "max_line_width": null}, "return_char_alignments": false, "interpolate_method": "nearest"}, "diarization": null, "vad_settings": {"vad_onset": 0.5, "vad_offset": 0.363, "chunk_size": 30}, "asr_settings": {"beam_size": 5, "patience": 1.0, "length_penalty": 1.0, "temperature": 0.0, "temperature_increment_on_fallback": 0.2, "compression_ratio_threshold": 2.4, "log_prob_threshold": -1.0, "no_speech_threshold": 0.6, "initial_prompt": null, "suppress_tokens": [-1], "suppress_numerals": false}, "email_notification": false}"#,
        )
        .unwrap();
        assert_eq!(serde_json::to_value(JobSettings::default()).unwrap(), expected);
        assert_eq!(JobSettings::from_request(b"{}").unwrap(), JobSettings::default());
    }

    #[test]
    fn cross_field_rules_hold() {
        let refused = |body: &str| JobSettings::from_request(body.as_bytes()).unwrap_err().status;
        assert_eq!(refused(r#"{"model": "tiny.en"}"#), 422);
        assert!(JobSettings::from_request(br#"{"model": "tiny.en", "language": "en"}"#).is_ok());
        assert_eq!(refused(r#"{"task": "translate"}"#), 422, "translation with the default alignment");
        assert!(JobSettings::from_request(br#"{"task": "translate", "alignment": null, "language": "de"}"#).is_ok());
        assert_eq!(refused(r#"{"task": "translate", "alignment": null, "language": "en"}"#), 422);
        assert_eq!(refused(r#"{"language": "xx"}"#), 422);
        assert_eq!(refused(r#"{"language": "am"}"#), 422, "no alignment for Amharic");
        assert_eq!(refused(r#"{"diarization": {"min_speakers": 3, "max_speakers": 2}}"#), 422);
        assert_eq!(refused(r#"{"vad_settings": {"chunk_size": 31}}"#), 422);
    }
}
