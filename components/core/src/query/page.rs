//! Running a [`Query`] and answering it: rows rendered by field kind, and the
//! `{"count","next","previous","results"}` envelope with its links.

use super::{Field, Kind, Page, Query, Resource, Scope, sql};
use crate::db::{Db, Row, Value, value_to_json};
use crate::error::ApiError;
use crate::http::Request;
use serde_json::{Map, Value as Json};

/// Runs the query: one COUNT(*) and one SELECT with ORDER BY / LIMIT / OFFSET, all values bound.
pub fn run(db: &dyn Db, resource: &Resource, scope: &Scope, query: &Query) -> Result<Page, ApiError> {
    let count = sql::count(resource, scope, query);
    let count = db.execute(&count.sql, &count.params)?.first().map_or(0, |row| row.int("count"));
    let select = sql::select(resource, scope, query);
    let rows = db.execute(&select.sql, &select.params)?;
    let fields = query.selected(resource);
    let results = rows.iter().map(|row| render(&row, &fields)).collect();
    Ok(Page { count, results })
}

/// One row as JSON: Int → number, Text → string, Bool → true/false, NULL → null.
fn render(row: &Row<'_>, fields: &[&'static Field]) -> Map<String, Json> {
    fields
        .iter()
        .map(|field| {
            let value = match (field.kind, row.value(field.name)) {
                (_, Value::Null) => Json::Null,
                (Kind::Int, value) => value_to_json(value),
                (Kind::Text, _) => row.text(field.name).into(),
                (Kind::Bool, _) => (row.int(field.name) != 0).into(),
            };
            (field.name.to_string(), value)
        })
        .collect()
}

/// The response envelope `{"count","next","previous","results"}`; next/previous are absolute URLs built from
/// `request.base_url` + `request.path` keeping every other query parameter (in their original order), with
/// only offset changed. Both are null with `limit=0`; `next` is null on the last page, `previous` on the first.
pub fn page_json(page: &Page, query: &Query, request: &Request) -> Json {
    let paged = query.limit > 0;
    let next = query.offset.saturating_add(query.limit);
    let next = (paged && next < page.count).then(|| link(request, next));
    let previous = (paged && query.offset > 0).then(|| link(request, (query.offset - query.limit).max(0)));
    serde_json::json!({"count": page.count, "next": next, "previous": previous, "results": page.results})
}

/// The request's URL with `offset` set: replaced where it stood, else appended. Other parameters keep their
/// position and their original encoding.
fn link(request: &Request, offset: i64) -> String {
    let mut parts = Vec::new();
    let mut placed = false;
    for part in request.query.split('&').filter(|part| !part.is_empty()) {
        let is_offset = form_urlencoded::parse(part.as_bytes()).next().is_some_and(|(key, _)| key == "offset");
        if !is_offset {
            parts.push(part.to_string());
        } else if !placed {
            parts.push(format!("offset={offset}"));
            placed = true;
        }
    }
    if !placed {
        parts.push(format!("offset={offset}"));
    }
    format!("{}{}?{}", request.base_url.trim_end_matches('/'), request.path, parts.join("&"))
}
