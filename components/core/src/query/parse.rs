//! Query-string pairs → [`Query`], validated against the resource's whitelist. Every failure is a 400
//! `invalid_query` whose message names the offending parameter.

use super::{
    DEFAULT_LIMIT, Field, Filter, Kind, MAX_FILTER_PARAMS, MAX_FILTER_VALUES, MAX_LIMIT, Op, OrderKey, Query, Resource,
};
use crate::db::Value;
use crate::error::ApiError;
use std::num::IntErrorKind;

/// Parses query-string pairs (already percent-decoded, in order) against the resource's whitelist.
/// `extra` names further parameters the route handles itself; they are ignored here (not an error).
pub fn parse(resource: &Resource, pairs: &[(String, String)], extra: &[&str]) -> Result<Query, ApiError> {
    let mut query = Query { filters: Vec::new(), order: Vec::new(), offset: 0, limit: DEFAULT_LIMIT, fields: None };
    let (mut offset_seen, mut limit_seen) = (false, false);
    let mut selected: Vec<&'static Field> = Vec::new();
    let (mut filter_params, mut filter_values) = (0, 0);
    for (key, value) in pairs {
        match key.as_str() {
            name if extra.contains(&name) => {}
            "field" => {
                let field = lookup(resource, value)
                    .ok_or_else(|| invalid(format!("unknown field `{}` in `field`", show(value))))?;
                if !selected.contains(&field) {
                    selected.push(field);
                }
            }
            "order" => {
                let (name, descending) = value.strip_prefix('-').map_or((value.as_str(), false), |name| (name, true));
                let field = lookup(resource, name)
                    .ok_or_else(|| invalid(format!("unknown field `{}` in `order`", show(name))))?;
                if !field.filter {
                    return Err(invalid(format!("field `{}` cannot be used in `order`", field.name)));
                }
                // A later key on the same field can never change the order: keep the first.
                if !query.order.iter().any(|key| key.field == field) {
                    query.order.push(OrderKey { field, descending });
                }
            }
            "offset" => {
                once(&mut offset_seen, "offset")?;
                query.offset = match value.parse::<i64>() {
                    Ok(offset) if offset >= 0 => offset,
                    _ => {
                        return Err(invalid(format!("`offset` must be a non-negative integer, got `{}`", show(value))));
                    }
                };
            }
            "limit" => {
                once(&mut limit_seen, "limit")?;
                query.limit = match value.parse::<i64>() {
                    Ok(limit) if limit >= 0 => limit.min(MAX_LIMIT),
                    Err(error) if *error.kind() == IntErrorKind::PosOverflow => MAX_LIMIT,
                    _ => return Err(invalid(format!("`limit` must be a non-negative integer, got `{}`", show(value)))),
                };
            }
            _ => {
                let (field, op) = filter_target(resource, key)?;
                let values = filter_values_of(field, op, key, value)?;
                filter_params += 1;
                filter_values += values.len();
                if filter_params > MAX_FILTER_PARAMS {
                    return Err(invalid(format!("too many filter parameters (at most {MAX_FILTER_PARAMS})")));
                }
                if filter_values > MAX_FILTER_VALUES {
                    return Err(invalid(format!("too many filter values (at most {MAX_FILTER_VALUES})")));
                }
                match query.filters.iter_mut().find(|filter| filter.field == field && filter.op == op) {
                    Some(filter) => filter.values.extend(values),
                    None => query.filters.push(Filter { field, op, values }),
                }
            }
        }
    }
    if !selected.is_empty() {
        let all: &'static [Field] = resource.fields;
        query.fields = Some(all.iter().filter(|field| selected.contains(field)).collect());
    }
    Ok(query)
}

/// The field and operator a filter parameter names: `{field}` (= eq) or `{field}__{op}`.
fn filter_target(resource: &Resource, key: &str) -> Result<(&'static Field, Op), ApiError> {
    let (field, op) = match lookup(resource, key) {
        Some(field) => (field, Op::Eq),
        None => {
            let Some((name, op)) = key.rsplit_once("__") else {
                return Err(invalid(format!("unknown query parameter `{}`", show(key))));
            };
            let field = lookup(resource, name)
                .ok_or_else(|| invalid(format!("unknown field `{}` in `{}`", show(name), show(key))))?;
            let op = Op::from_name(op)
                .ok_or_else(|| invalid(format!("unknown operator `{}` in `{}`", show(op), show(key))))?;
            (field, op)
        }
    };
    if !field.filter {
        return Err(invalid(format!("field `{}` cannot be filtered (in `{}`)", field.name, show(key))));
    }
    if op == Op::Contains && field.kind != Kind::Text {
        return Err(invalid(format!("`{}`: `contains` applies only to text fields", show(key))));
    }
    Ok((field, op))
}

/// The typed values of one parameter: `in`/`notin` split on commas, every other operator takes one.
fn filter_values_of(field: &Field, op: Op, key: &str, raw: &str) -> Result<Vec<Value>, ApiError> {
    let items: Vec<&str> = match op {
        Op::In | Op::NotIn => raw.split(',').collect(),
        _ => vec![raw],
    };
    items.into_iter().map(|item| typed(field.kind, key, item)).collect()
}

/// One query value parsed for a field's kind.
fn typed(kind: Kind, key: &str, raw: &str) -> Result<Value, ApiError> {
    let expected = match kind {
        Kind::Text => return Ok(Value::Text(raw.to_string())),
        Kind::Int => match raw.parse::<i64>() {
            Ok(number) => return Ok(Value::Integer(number)),
            Err(_) => "an integer",
        },
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => return Ok(Value::Integer(1)),
            "off" | "false" | "no" | "0" => return Ok(Value::Integer(0)),
            _ => "a boolean (on/off, true/false, yes/no, 1/0)",
        },
    };
    Err(invalid(format!("invalid value for `{}`: expected {expected}, got `{}`", show(key), show(raw))))
}

fn lookup(resource: &Resource, name: &str) -> Option<&'static Field> {
    let all: &'static [Field] = resource.fields;
    all.iter().find(|field| field.name == name)
}

fn once(seen: &mut bool, name: &str) -> Result<(), ApiError> {
    if std::mem::replace(seen, true) {
        return Err(invalid(format!("`{name}` given more than once")));
    }
    Ok(())
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

/// Client text echoed in an error, cut short so a 100 KB parameter does not come back whole.
fn show(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
