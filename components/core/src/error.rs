//! The one error type every route answers with (SPEC §1): a status code and
//! `{"detail", "code", "errors"?}`. Internal causes are logged, never returned.

use serde::Serialize;

/// One invalid field in a validation error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Every failure a handler can answer with. Each variant fixes its HTTP status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400 with a specific machine code (`invalid_json`, `invalid_query`, ...).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 401; the response carries `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 with a specific machine code (`duplicate`, `conflict`, ...).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// 422 `unknown_field`.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// 422 `validation_failed` with per-field messages.
    #[error("{detail}")]
    Validation { detail: String, errors: Vec<FieldError> },
    /// 429; `retry_after` in seconds.
    #[error("rate limit exceeded")]
    TooManyRequests { retry_after: f64 },
    /// 500; the cause is logged to stderr, the client sees a generic message.
    #[error("internal error")]
    Internal(String),
    /// 503.
    #[error("{0}")]
    Unavailable(String),
}

/// The JSON body of an error response.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(rename = "Error"))]
pub struct ErrorBody<'a> {
    pub detail: String,
    pub code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<&'a [FieldError]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<f64>,
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest { code, detail: detail.into() }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into() }
    }

    /// A 422 for a single field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::Validation {
            detail: format!("invalid value for `{}`: {}", error.field, error.message),
            errors: vec![error],
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// Logs the cause of an internal error to stderr (the one place it is logged; the client only sees
    /// "internal error"). Every other error is the client's and is not logged.
    pub fn log_internal(&self) {
        if let Self::Internal(cause) = self {
            eprintln!("conveyor: internal error: {cause}");
        }
    }

    /// The HTTP status code of this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict { .. } => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::UnknownField(_) | Self::Validation { .. } => 422,
            Self::TooManyRequests { .. } => 429,
            Self::Internal(_) => 500,
            Self::Unavailable(_) => 503,
        }
    }

    /// The stable snake_case code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Conflict { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnknownField(_) => "unknown_field",
            Self::Validation { .. } => "validation_failed",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Internal(_) => "internal_error",
            Self::Unavailable(_) => "unavailable",
        }
    }

    /// The response body; internal details never leave the process.
    pub fn body(&self) -> ErrorBody<'_> {
        let errors = match self {
            Self::Validation { errors, .. } => Some(errors.as_slice()),
            Self::UnknownField(_) => None,
            _ => None,
        };
        let retry_after = match self {
            Self::TooManyRequests { retry_after } => Some(*retry_after),
            _ => None,
        };
        ErrorBody { detail: self.to_string(), code: self.code(), errors, retry_after }
    }

    /// Extra response headers this error requires (SPEC §1).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Unauthorized(_) => vec![("www-authenticate", "Bearer".to_string())],
            Self::TooManyRequests { retry_after } => {
                vec![("retry-after", (retry_after.ceil().max(1.0) as u64).to_string())]
            }
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_status_and_code() {
        let cases = [
            (ApiError::bad_request("invalid_json", "x"), 400, "invalid_json"),
            (ApiError::Unauthorized("x".into()), 401, "unauthorized"),
            (ApiError::Forbidden("x".into()), 403, "forbidden"),
            (ApiError::NotFound("x".into()), 404, "not_found"),
            (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
            (ApiError::conflict("duplicate", "x"), 409, "duplicate"),
            (ApiError::PayloadTooLarge { limit: 1 }, 413, "payload_too_large"),
            (ApiError::UnsupportedMediaType, 415, "unsupported_media_type"),
            (ApiError::UnknownField("x".into()), 422, "unknown_field"),
            (ApiError::invalid_field("x", "bad"), 422, "validation_failed"),
            (ApiError::TooManyRequests { retry_after: 0.2 }, 429, "rate_limited"),
            (ApiError::internal("disk on fire"), 500, "internal_error"),
            (ApiError::Unavailable("x".into()), 503, "unavailable"),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.code(), code, "{error:?}");
        }
    }

    #[test]
    fn internal_causes_never_reach_the_body() {
        let body = serde_json::to_value(ApiError::internal("SELECT secret FROM users").body()).unwrap();
        assert_eq!(body, serde_json::json!({"detail": "internal error", "code": "internal_error"}));
    }

    #[test]
    fn validation_lists_fields_and_rate_limit_says_when() {
        let body = serde_json::to_value(ApiError::invalid_field("password", "too short").body()).unwrap();
        assert_eq!(body["errors"], serde_json::json!([{"field": "password", "message": "too short"}]));
        let limited = ApiError::TooManyRequests { retry_after: 1.5 };
        assert_eq!(serde_json::to_value(limited.body()).unwrap()["retry_after"], 1.5);
        assert_eq!(limited.headers(), vec![("retry-after", "2".to_string())]);
        assert_eq!(ApiError::Unauthorized("x".into()).headers(), vec![("www-authenticate", "Bearer".to_string())]);
    }
}
