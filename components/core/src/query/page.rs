//! Running a [`Query`] and answering it: rows rendered by field kind, and the
//! `{"count","next","previous","results"}` envelope with its links.

use super::{Field, Kind, Page, Query, Resource, Scope, sql};
use crate::db::{Db, DbError, Row, Value};
use crate::error::ApiError;
use crate::http::Request;
use serde_json::{Map, Value as Json};

/// One page of a collection with the query that produced it: the parse → run → answer sequence of every
/// collection route, in one place.
#[derive(Debug, Clone)]
pub struct Listing {
    pub page: Page,
    pub query: Query,
}

impl Listing {
    /// Parses `pairs` for `resource` and runs the query in `scope`. Checks no access: the scope is the
    /// caller's to choose.
    pub fn run(
        db: &dyn Db,
        resource: &Resource,
        scope: &Scope,
        pairs: &[(String, String)],
    ) -> Result<Listing, ApiError> {
        let query = super::parse(resource, pairs, &[])?;
        let page = run(db, resource, scope, &query)?;
        Ok(Listing { page, query })
    }

    /// The `{"count","next","previous","results"}` envelope, links relative to `request`.
    pub fn to_json(&self, request: &Request) -> Json {
        page_json(&self.page, &self.query, request)
    }
}

/// Every row a listing answers, asking `list` for [`MAX_LIMIT`](super::MAX_LIMIT) rows at a time: for the
/// wire-compatible surfaces whose originals had no paging.
pub fn all_pages(
    filters: &[(String, String)],
    list: impl Fn(&[(String, String)]) -> Result<Listing, ApiError>,
) -> Result<Vec<Map<String, Json>>, ApiError> {
    let mut rows = Vec::new();
    loop {
        let mut pairs = filters.to_vec();
        pairs.push(("limit".into(), super::MAX_LIMIT.to_string()));
        pairs.push(("offset".into(), rows.len().to_string()));
        let page = list(&pairs)?.page;
        let done = page.results.len() < super::MAX_LIMIT as usize;
        rows.extend(page.results);
        if done {
            return Ok(rows);
        }
    }
}

/// Runs the query: one COUNT(*) and one SELECT with ORDER BY / LIMIT / OFFSET, all values bound.
pub fn run(db: &dyn Db, resource: &Resource, scope: &Scope, query: &Query) -> Result<Page, ApiError> {
    let count = sql::count(resource, scope, query);
    let count = db.execute(&count.sql, &count.params)?.map_first(|row| row.int("count"))?.unwrap_or(0);
    let select = sql::select(resource, scope, query);
    let rows = db.execute(&select.sql, &select.params)?;
    let fields = query.selected(resource);
    let results = rows.map_all(|row| render(row, &fields))?;
    Ok(Page { count, results })
}

/// One row as JSON: Int → number, Text → string, Bool → true/false, NULL → null. A value of another type
/// than its field's kind is an error.
fn render(row: &Row<'_>, fields: &[&'static Field]) -> Result<Map<String, Json>, DbError> {
    fields
        .iter()
        .map(|field| {
            let value = match (field.kind, row.value(field.name)?) {
                (_, Value::Null) => Json::Null,
                (Kind::Int, Value::Real(v)) => (*v).into(),
                (Kind::Int, _) => row.int(field.name)?.into(),
                (Kind::Text, _) => row.text(field.name)?.into(),
                (Kind::Bool, _) => row.bool(field.name)?.into(),
            };
            Ok((field.name.to_string(), value))
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
