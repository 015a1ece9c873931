//! [`Query`] → SQL statements. The text is built only from the whitelist (`Resource.from`, `Field.sql`,
//! `Field.name`), the handler's `Scope.sql` and fixed keywords; every client value becomes a `?` parameter.

use super::{Filter, Op, Query, Resource, Scope};
use crate::db::Value;

/// SQL text with its positional parameters.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Statement {
    pub(super) sql: String,
    pub(super) params: Vec<Value>,
}

/// `SELECT COUNT(*)` of the rows in scope that pass the filters.
pub(super) fn count(resource: &Resource, scope: &Scope, query: &Query) -> Statement {
    let mut params = Vec::new();
    let filter = where_clause(scope, query, &mut params);
    Statement { sql: format!("SELECT COUNT(*) AS \"count\" FROM {}{filter}", resource.from), params }
}

/// The page's rows: the selected fields, ordered (always ending with the `id` tiebreaker), limited.
pub(super) fn select(resource: &Resource, scope: &Scope, query: &Query) -> Statement {
    let mut params = Vec::new();
    let columns: Vec<String> = query
        .selected(resource)
        .iter()
        .map(|field| format!("({}) AS {}", field.sql, quote_identifier(field.name)))
        .collect();
    let filter = where_clause(scope, query, &mut params);
    let order = order_by(resource, query);
    params.push(Value::Integer(query.limit));
    params.push(Value::Integer(query.offset));
    let sql = format!("SELECT {} FROM {}{filter}{order} LIMIT ? OFFSET ?", columns.join(", "), resource.from);
    Statement { sql, params }
}

/// ` WHERE (scope) AND term AND ...`, or nothing without scope and filters.
fn where_clause(scope: &Scope, query: &Query, params: &mut Vec<Value>) -> String {
    let mut terms = Vec::new();
    if !scope.sql.trim().is_empty() {
        terms.push(format!("({})", scope.sql));
        params.extend(scope.params.iter().cloned());
    }
    for filter in &query.filters {
        filter_terms(filter, &mut terms, params);
    }
    if terms.is_empty() { String::new() } else { format!(" WHERE {}", terms.join(" AND ")) }
}

/// The SQL terms (ANDed) of one parameter's filter.
///
/// `eq`/`in`: any of the values. `ne`/`notin`: none of them, and NULL counts as none of them.
/// `lt`/`le`/`gt`/`ge`: every value's comparison holds. `contains`: any value is a substring (`instr`, so
/// case-sensitive and free of LIKE wildcards). NULL never satisfies `eq`/`in`/comparisons/`contains`.
fn filter_terms(filter: &Filter, terms: &mut Vec<String>, params: &mut Vec<Value>) {
    let expr = format!("({})", filter.field.sql);
    let values = &filter.values;
    let comparison = |operator: &str| format!("{expr} {operator} ?");
    match filter.op {
        Op::Eq | Op::In if values.len() == 1 => terms.push(comparison("=")),
        Op::Eq | Op::In => terms.push(format!("{expr} IN ({})", placeholders(values.len()))),
        Op::Ne | Op::NotIn if values.len() == 1 => terms.push(format!("({expr} IS NULL OR {expr} <> ?)")),
        Op::Ne | Op::NotIn => {
            terms.push(format!("({expr} IS NULL OR {expr} NOT IN ({}))", placeholders(values.len())));
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let operator = match filter.op {
                Op::Lt => "<",
                Op::Le => "<=",
                Op::Gt => ">",
                _ => ">=",
            };
            terms.extend(values.iter().map(|_| comparison(operator)));
        }
        Op::Contains => {
            let any: Vec<String> = values.iter().map(|_| format!("instr({expr}, ?) > 0")).collect();
            terms.push(format!("({})", any.join(" OR ")));
        }
    }
    params.extend(values.iter().cloned());
}

/// ` ORDER BY key, ..., id ASC`: the requested keys, then `id` (when the resource has it) so that rows with
/// equal keys always come in the same order and pages neither repeat nor skip rows.
fn order_by(resource: &Resource, query: &Query) -> String {
    let mut keys: Vec<String> = query
        .order
        .iter()
        .map(|key| format!("({}) {}", key.field.sql, if key.descending { "DESC" } else { "ASC" }))
        .collect();
    if let Some(id) = resource.fields.iter().find(|field| field.name == "id")
        && !query.order.iter().any(|key| key.field.name == "id")
    {
        keys.push(format!("({}) ASC", id.sql));
    }
    if keys.is_empty() { String::new() } else { format!(" ORDER BY {}", keys.join(", ")) }
}

fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// A field name as a SQL identifier (names are whitelisted constants; quoting keeps any of them valid).
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
