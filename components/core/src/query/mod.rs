//! The collection query language (SPEC §1.1, after Buildbot's REST API): filters, ordering, offset/limit
//! and field selection over a per-resource whitelist, answered in Seed Scheduler's
//! `{"count","next","previous","results"}` envelope. User-facing reference: `docs/query-language.md`.
//!
//! A handler declares a [`Resource`] (trusted FROM clause + whitelisted [`Field`]s), [`parse`]s the request's
//! query pairs, [`run`]s the query under its tenancy [`Scope`] and answers [`page_json`].
//!
//! Security: SQL text is assembled only from `Resource.from`, `Field.sql`, `Field.name`, `Scope.sql` and fixed
//! keywords; every value a client sends (filters, offset, limit) is a bound `?` parameter. A client can only
//! change the SQL by choosing among whitelisted fields and operators.

mod page;
mod parse;
mod sql;
#[cfg(test)]
mod tests;

pub use page::{Listing, all_pages, page_json, run};
pub use parse::parse;

use crate::db::Value;

/// `limit` when the request gives none.
const DEFAULT_LIMIT: i64 = 50;
/// The largest page; a larger `limit` is clamped to it.
const MAX_LIMIT: i64 = 1000;
/// At most this many filter parameters per request (keeps the SQL expression shallow).
const MAX_FILTER_PARAMS: usize = 100;
/// At most this many filter values per request (`in`/`notin` items count one each).
const MAX_FILTER_VALUES: usize = 1000;

/// The type of a field: decides how query values parse and how column values render to JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 64-bit signed integer; renders as a JSON number.
    Int,
    /// A string; renders as a JSON string. The only kind `contains` applies to.
    Text,
    /// Stored as 0/1; query values `on/off true/false yes/no 1/0`; renders as `true`/`false`.
    Bool,
}

/// One whitelisted field of a resource: its public name, the SQL expression that yields it (a column or a
/// trusted expression such as a subquery), its kind, and whether it may be filtered/ordered on.
///
/// Qualify `sql` (`t.status`) when a bare column name could also be another field's public name: SQLite
/// resolves a bare identifier in ORDER BY to a result alias first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub sql: &'static str,
    pub kind: Kind,
    pub filter: bool,
}

/// A queryable collection: the FROM clause (trusted SQL, e.g. "users" or "tasks t JOIN projects p ON ...")
/// and its fields. A field named `id` is the default order and the tiebreaker of every order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub from: &'static str,
    pub fields: &'static [Field],
}

/// A trusted WHERE fragment supplied by the handler (tenancy/visibility), with its bound params. Empty sql =
/// no scope. It is parenthesised and ANDed with the client's filters, so an `OR` inside cannot leak rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub sql: String,
    pub params: Vec<Value>,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// One entry per distinct (field, operator) parameter; repeats of it add values to its set.
    filters: Vec<Filter>,
    /// Explicit order keys, each field at most once (the `id` tiebreaker is added when building SQL).
    order: Vec<OrderKey>,
    offset: i64,
    /// Already clamped to `0..=MAX_LIMIT`.
    limit: i64,
    /// The selected fields in the resource's order; `None` = all.
    fields: Option<Vec<&'static Field>>,
}

impl Query {
    /// The fields a result row carries.
    fn selected(&self, resource: &Resource) -> Vec<&'static Field> {
        let all: &'static [Field] = resource.fields;
        self.fields.clone().unwrap_or_else(|| all.iter().collect())
    }
}

/// One page of results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// Rows matching scope and filters, before offset/limit.
    pub count: i64,
    /// The page's rows, each holding the selected fields.
    pub results: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The filter of one parameter (`{field}__{op}`), with every value it was given.
#[derive(Debug, Clone, PartialEq)]
struct Filter {
    field: &'static Field,
    op: Op,
    values: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderKey {
    field: &'static Field,
    descending: bool,
}

/// A filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    In,
    NotIn,
}

impl Op {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "lt" => Self::Lt,
            "le" => Self::Le,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "contains" => Self::Contains,
            "in" => Self::In,
            "notin" => Self::NotIn,
            _ => return None,
        })
    }
}
