use super::*;
use crate::connection::NativeDb;
use crate::db::Db;
use crate::error::ApiError;
use crate::http::Request;
use serde_json::json;

const ITEM_FIELDS: &[Field] = &[
    Field { name: "id", sql: "id", kind: Kind::Int, filter: true },
    Field { name: "name", sql: "name", kind: Kind::Text, filter: true },
    Field { name: "size", sql: "size", kind: Kind::Int, filter: true },
    Field { name: "done", sql: "done", kind: Kind::Bool, filter: true },
    Field { name: "note", sql: "note", kind: Kind::Text, filter: false },
];
const ITEMS: Resource = Resource { from: "items", fields: ITEM_FIELDS };

/// id, name, size, done, note
type Item = (i64, &'static str, Option<i64>, i64, Option<&'static str>);
const ROWS: &[Item] = &[
    (1, "apple", Some(3), 1, Some("red")),
    (2, "banana", Some(5), 0, None),
    (3, "cherry", Some(3), 0, Some("x")),
    (4, "Apple", Some(7), 1, Some("green")),
    (5, "date", None, 0, None),
    (6, "elder", Some(5), 1, Some("y")),
];

fn items_db() -> NativeDb {
    let db = NativeDb::memory().unwrap();
    db.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, size INTEGER, done INTEGER NOT NULL, note TEXT)",
        &[],
    )
    .unwrap();
    for (id, name, size, done, note) in ROWS {
        let params = [Value::from(*id), Value::from(*name), Value::from(*size), Value::from(*done), Value::from(*note)];
        db.execute("INSERT INTO items (id, name, size, done, note) VALUES (?, ?, ?, ?, ?)", &params).unwrap();
    }
    db
}

fn pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn parsed(query: &str) -> Query {
    parse(&ITEMS, &pairs(query), &[]).unwrap_or_else(|e| panic!("{query}: {e:?}"))
}

fn page(db: &dyn Db, query: &str) -> Page {
    run(db, &ITEMS, &Scope::default(), &parsed(query)).unwrap_or_else(|e| panic!("{query}: {e:?}"))
}

fn ids_of(page: &Page) -> Vec<i64> {
    page.results.iter().map(|row| row["id"].as_i64().unwrap()).collect()
}

/// The error detail of a query that must be rejected with 400 `invalid_query`.
fn rejected(query: &str) -> String {
    match parse(&ITEMS, &pairs(query), &[]) {
        Err(error @ ApiError::BadRequest { code: "invalid_query", .. }) => {
            assert_eq!(error.status(), 400);
            error.to_string()
        }
        other => panic!("{query}: expected invalid_query, got {other:?}"),
    }
}

fn request(query: &str) -> Request {
    Request {
        method: "GET".into(),
        path: "/api/v1/items".into(),
        query: query.into(),
        base_url: "https://conveyor.example".into(),
        ..Request::default()
    }
}

fn envelope(db: &dyn Db, query: &str) -> serde_json::Value {
    page_json(&page(db, query), &parsed(query), &request(query))
}

#[test]
fn every_operator_filters_by_its_meaning() {
    let db = items_db();
    let cases: &[(&str, &[i64])] = &[
        ("name=apple", &[1]),
        ("name__eq=apple", &[1]),
        ("size__ne=3", &[2, 4, 5, 6]),
        ("size__lt=5", &[1, 3]),
        ("size__le=5", &[1, 2, 3, 6]),
        ("size__gt=5", &[4]),
        ("size__ge=5", &[2, 4, 6]),
        ("name__contains=pp", &[1, 4]),
        ("name__contains=App", &[4]),
        ("name__contains=", &[1, 2, 3, 4, 5, 6]),
        ("size__in=3,7", &[1, 3, 4]),
        ("size__notin=3,5", &[4, 5]),
        ("name__lt=b", &[1, 4]),
        ("id__ge=2&id__le=3", &[2, 3]),
        ("done=true", &[1, 4, 6]),
        ("done__ne=true", &[2, 3, 5]),
    ];
    for (query, expected) in cases {
        assert_eq!(ids_of(&page(&db, query)), *expected, "{query}");
    }
}

#[test]
fn repeated_parameters_make_sets() {
    let db = items_db();
    let cases: &[(&str, &[i64])] = &[
        ("name=apple&name=date", &[1, 5]),
        ("name=apple&name__eq=date", &[1, 5]),
        ("size__ne=3&size__ne=5", &[4, 5]),
        ("size__gt=2&size__gt=4", &[2, 4, 6]),
        ("size__lt=7&size__lt=4", &[1, 3]),
        ("name__contains=err&name__contains=ana", &[2, 3]),
        ("size__in=3&size__in=7", &[1, 3, 4]),
        ("size__notin=3&size__notin=7", &[2, 5, 6]),
        // Different parameters are ANDed.
        ("size=3&done=true", &[1]),
        ("size__in=3,5&size__ne=5", &[1, 3]),
        ("name=apple&name=nothing&done=false", &[]),
    ];
    for (query, expected) in cases {
        assert_eq!(ids_of(&page(&db, query)), *expected, "{query}");
    }
}

#[test]
fn booleans_accept_every_spelling() {
    let db = items_db();
    for yes in ["on", "true", "yes", "1", "TRUE", "Yes", "oN"] {
        assert_eq!(ids_of(&page(&db, &format!("done={yes}"))), [1, 4, 6], "{yes}");
    }
    for no in ["off", "false", "no", "0", "FALSE", "No"] {
        assert_eq!(ids_of(&page(&db, &format!("done={no}"))), [2, 3, 5], "{no}");
    }
    assert_eq!(ids_of(&page(&db, "done__in=yes,off")), [1, 2, 3, 4, 5, 6]);
    for bad in ["", "2", "y", "t", "truth", "-1"] {
        let detail = rejected(&format!("done={bad}"));
        assert!(detail.contains("`done`") && detail.contains("boolean"), "{bad}: {detail}");
    }
}

#[test]
fn ordering_is_stable_with_id_as_tiebreaker() {
    let db = items_db();
    let cases: &[(&str, &[i64])] = &[
        ("", &[1, 2, 3, 4, 5, 6]),
        ("order=-id", &[6, 5, 4, 3, 2, 1]),
        // NULL sorts first ascending; equal sizes fall back to id ascending.
        ("order=size", &[5, 1, 3, 2, 6, 4]),
        ("order=-size", &[4, 2, 6, 1, 3, 5]),
        // Binary collation: "Apple" < "apple".
        ("order=-done&order=name", &[4, 1, 6, 2, 3, 5]),
        ("order=done&order=-size", &[2, 3, 5, 4, 6, 1]),
        // A repeated key keeps its first direction.
        ("order=size&order=-size", &[5, 1, 3, 2, 6, 4]),
    ];
    for (query, expected) in cases {
        assert_eq!(ids_of(&page(&db, query)), *expected, "{query}");
    }
    let select = sql::select(&ITEMS, &Scope::default(), &parsed("order=-size"));
    assert!(select.sql.ends_with(" ORDER BY (size) DESC, (id) ASC LIMIT ? OFFSET ?"), "{}", select.sql);
    let select = sql::select(&ITEMS, &Scope::default(), &parsed("order=-id&order=size"));
    assert!(select.sql.ends_with(" ORDER BY (id) DESC, (size) ASC LIMIT ? OFFSET ?"), "{}", select.sql);
}

#[test]
fn resources_without_id_have_no_tiebreaker() {
    const FIELDS: &[Field] = &[Field { name: "name", sql: "u.username", kind: Kind::Text, filter: true }];
    const NAMES: Resource = Resource { from: "users u", fields: FIELDS };
    let query = parse(&NAMES, &[], &[]).unwrap();
    let select = sql::select(&NAMES, &Scope::default(), &query);
    assert_eq!(select.sql, "SELECT (u.username) AS \"name\" FROM users u LIMIT ? OFFSET ?");
    assert!(run(&NativeDb::memory().unwrap(), &NAMES, &Scope::default(), &query).unwrap().results.is_empty());
}

#[test]
fn pagination_edges() {
    let db = items_db();
    let cases: &[(&str, &[i64])] = &[
        ("limit=2", &[1, 2]),
        ("limit=2&offset=2", &[3, 4]),
        ("offset=5", &[6]),
        ("offset=6", &[]),
        ("offset=100", &[]),
        ("offset=9223372036854775807&limit=1000", &[]),
        ("limit=0", &[]),
        ("order=-id&offset=1&limit=2", &[5, 4]),
    ];
    for (query, expected) in cases {
        let page = page(&db, query);
        assert_eq!(ids_of(&page), *expected, "{query}");
        assert_eq!(page.count, 6, "{query}");
    }
    assert_eq!(page(&db, "size=5&limit=1").count, 2);
    assert_eq!(parsed("").limit, 50);
    assert_eq!(parsed("").offset, 0);
    assert_eq!(parsed("limit=1000").limit, 1000);
    assert_eq!(parsed("limit=1001").limit, 1000);
    assert_eq!(parsed("limit=99999999999999999999999").limit, 1000);
    assert_eq!(parsed("limit=0").limit, 0);
}

#[test]
fn default_and_clamped_limits_hold_against_sqlite() {
    let db = NativeDb::memory().unwrap();
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, size INTEGER, done INTEGER NOT NULL, note TEXT)", &[])
        .unwrap();
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1205) \
         INSERT INTO items (id, name, size, done) SELECT i, 'item' || i, i % 10, i % 2 FROM n",
        &[],
    )
    .unwrap();
    let default = page(&db, "");
    assert_eq!((default.count, default.results.len()), (1205, 50));
    let clamped = page(&db, "limit=5000");
    assert_eq!((clamped.count, clamped.results.len()), (1205, 1000));
    assert_eq!(ids_of(&clamped).last(), Some(&1000));
    let body = envelope(&db, "limit=5000&offset=1000");
    assert_eq!(body["results"].as_array().unwrap().len(), 205);
    assert_eq!(body["next"], json!(null));
    assert_eq!(body["previous"], "https://conveyor.example/api/v1/items?limit=5000&offset=0");
    let body = envelope(&db, "limit=5000");
    assert_eq!(body["next"], "https://conveyor.example/api/v1/items?limit=5000&offset=1000");
}

#[test]
fn next_and_previous_keep_other_parameters() {
    let db = items_db();
    let query = "name__ne=x&limit=2&offset=2&order=-size";
    let body = envelope(&db, query);
    assert_eq!(body["count"], 6);
    assert_eq!(body["next"], "https://conveyor.example/api/v1/items?name__ne=x&limit=2&offset=4&order=-size");
    assert_eq!(body["previous"], "https://conveyor.example/api/v1/items?name__ne=x&limit=2&offset=0&order=-size");
    assert_eq!(body["results"].as_array().unwrap().len(), 2);

    // First page: no previous; offset is appended, other parameters keep their original encoding.
    let body = envelope(&db, "name__contains=a%20b&limit=2&name__contains=e");
    assert_eq!(body["count"], 5);
    assert_eq!(body["previous"], json!(null));
    assert_eq!(
        body["next"],
        "https://conveyor.example/api/v1/items?name__contains=a%20b&limit=2&name__contains=e&offset=2"
    );

    // Last page exactly: no next.
    let body = envelope(&db, "limit=2&offset=4");
    assert_eq!(body["next"], json!(null));
    assert_eq!(body["previous"], "https://conveyor.example/api/v1/items?limit=2&offset=2");
    // A previous page never goes below 0; past the end there is no next.
    let body = envelope(&db, "offset=1&limit=5");
    assert_eq!(body["previous"], "https://conveyor.example/api/v1/items?offset=0&limit=5");
    assert_eq!(body["next"], json!(null));
    let body = envelope(&db, "offset=100&limit=10");
    assert_eq!(body["next"], json!(null));
    assert_eq!(body["previous"], "https://conveyor.example/api/v1/items?offset=90&limit=10");
    // Everything fits: no links at all. limit=0: the count only, no links.
    assert_eq!(
        envelope(&db, ""),
        json!({"count": 6, "next": null, "previous": null, "results": page(&db, "").results})
    );
    assert_eq!(envelope(&db, "limit=0&offset=2"), json!({"count": 6, "next": null, "previous": null, "results": []}));
}

#[test]
fn links_respect_base_url_and_extra_parameters() {
    let db = items_db();
    let query = "inline=1&limit=1";
    let parsed = parse(&ITEMS, &pairs(query), &["inline"]).unwrap();
    let page = run(&db, &ITEMS, &Scope::default(), &parsed).unwrap();
    let request = Request { base_url: "http://localhost:3000/".into(), ..request(query) };
    let body = page_json(&page, &parsed, &request);
    assert_eq!(body["next"], "http://localhost:3000/api/v1/items?inline=1&limit=1&offset=1");
    assert_eq!(ids_of(&page), [1]);
    // Without `extra` the same parameter is unknown.
    assert!(rejected(query).contains("`inline`"));
}

#[test]
fn field_selection_and_rendering() {
    let db = items_db();
    let page = page(&db, "field=name&field=id&id__in=1,2");
    assert_eq!(
        page.results,
        vec![
            json!({"id": 1, "name": "apple"}).as_object().unwrap().clone(),
            json!({"id": 2, "name": "banana"}).as_object().unwrap().clone(),
        ]
    );
    let select = sql::select(&ITEMS, &Scope::default(), &parsed("field=name&field=id"));
    assert!(select.sql.starts_with("SELECT (id) AS \"id\", (name) AS \"name\" FROM items"), "{}", select.sql);
    assert_eq!(
        parsed("field=size&field=id&field=size").fields.unwrap().iter().map(|f| f.name).collect::<Vec<_>>(),
        ["id", "size"]
    );

    // Every kind renders by its type; NULL is null. Filter-less fields can still be selected.
    let all = self::page(&db, "id__in=1,5");
    assert_eq!(
        all.results[0],
        json!({"id": 1, "name": "apple", "size": 3, "done": true, "note": "red"}).as_object().unwrap().clone()
    );
    assert_eq!(
        all.results[1],
        json!({"id": 5, "name": "date", "size": null, "done": false, "note": null}).as_object().unwrap().clone()
    );

    // Selection happens last: ordering and filtering may use fields that are not returned.
    let page = self::page(&db, "field=name&order=-size&size__ge=5");
    assert_eq!(
        page.results.iter().map(|r| r["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["Apple", "banana", "elder"]
    );
    assert!(page.results.iter().all(|row| row.len() == 1));
}

#[test]
fn scope_is_parenthesised_and_anded() {
    let db = items_db();
    let scope = Scope { sql: "size = ? OR size = ?".into(), params: vec![Value::Integer(3), Value::Integer(5)] };
    let query = parsed("name=banana");
    let page = run(&db, &ITEMS, &scope, &query).unwrap();
    assert_eq!((ids_of(&page), page.count), (vec![2], 1));
    let page = run(&db, &ITEMS, &scope, &parsed("order=-id")).unwrap();
    assert_eq!((ids_of(&page), page.count), (vec![6, 3, 2, 1], 4));
    let count = sql::count(&ITEMS, &scope, &query);
    assert_eq!(count.sql, "SELECT COUNT(*) AS \"count\" FROM items WHERE (size = ? OR size = ?) AND (name) = ?");
    assert_eq!(count.params, vec![Value::Integer(3), Value::Integer(5), "banana".into()]);
}

#[test]
fn statements_bind_every_value_in_order() {
    let query = parsed("size__in=3,7&name__contains=a&name__contains=b&done=no&size__ne=1&offset=4&limit=2");
    let select = sql::select(&ITEMS, &Scope::default(), &query);
    assert_eq!(
        select.sql,
        "SELECT (id) AS \"id\", (name) AS \"name\", (size) AS \"size\", (done) AS \"done\", (note) AS \"note\" \
         FROM items WHERE (size) IN (?, ?) AND (instr((name), ?) > 0 OR instr((name), ?) > 0) AND (done) = ? \
         AND ((size) IS NULL OR (size) <> ?) ORDER BY (id) ASC LIMIT ? OFFSET ?"
    );
    let expected: Vec<Value> = vec![
        Value::Integer(3),
        Value::Integer(7),
        "a".into(),
        "b".into(),
        Value::Integer(0),
        Value::Integer(1),
        Value::Integer(2),
        Value::Integer(4),
    ];
    assert_eq!(select.params, expected);
    assert_eq!(select.sql.matches('?').count(), select.params.len());
}

#[test]
fn every_invalid_query_is_a_400_naming_the_parameter() {
    let cases = [
        ("bogus=1", "`bogus`"),
        ("Name=apple", "`Name`"),
        ("=1", "``"),
        ("bogus__eq=1", "`bogus`"),
        ("name__like=a", "`like`"),
        ("name__=a", "`name__`"),
        ("name__eq__eq=a", "`name__eq`"),
        ("note=red", "`note`"),
        ("note__contains=r", "`note`"),
        ("size=abc", "`size`"),
        ("size=1.5", "`size`"),
        ("size=", "`size`"),
        ("size__gt=99999999999999999999", "`size__gt`"),
        ("size__in=1,x", "`size__in`"),
        ("size__in=", "`size__in`"),
        ("size__contains=1", "`size__contains`"),
        ("done__contains=1", "`done__contains`"),
        ("done=maybe", "`done`"),
        ("order=bogus", "`order`"),
        ("order=-bogus", "`order`"),
        ("order=", "`order`"),
        ("order=note", "`order`"),
        ("order=--id", "`order`"),
        ("field=bogus", "`field`"),
        ("field=", "`field`"),
        ("offset=-1", "`offset`"),
        ("offset=x", "`offset`"),
        ("offset=", "`offset`"),
        ("offset=1.0", "`offset`"),
        ("offset=99999999999999999999", "`offset`"),
        ("offset=1&offset=2", "`offset`"),
        ("limit=-1", "`limit`"),
        ("limit=ten", "`limit`"),
        ("limit=", "`limit`"),
        ("limit=1e3", "`limit`"),
        ("limit=-99999999999999999999", "`limit`"),
        ("limit=1&limit=2", "`limit`"),
    ];
    for (query, named) in cases {
        let detail = rejected(query);
        assert!(detail.contains(named), "{query}: {detail}");
    }
    let too_many_params = vec!["size__ge=1"; MAX_FILTER_PARAMS + 1].join("&");
    assert!(rejected(&too_many_params).contains("too many filter parameters"));
    assert!(parse(&ITEMS, &pairs(&too_many_params[..too_many_params.len() - "&size__ge=1".len()]), &[]).is_ok());
    let ids: Vec<String> = (0..=MAX_FILTER_VALUES).map(|i| i.to_string()).collect();
    assert!(rejected(&format!("id__in={}", ids.join(","))).contains("too many filter values"));
    assert!(parse(&ITEMS, &pairs(&format!("id__in={}", ids[1..].join(","))), &[]).is_ok());
}

#[test]
fn limits_on_filter_size_still_run_in_sqlite() {
    let db = items_db();
    let many_params = vec!["size__ge=1"; MAX_FILTER_PARAMS].join("&");
    assert_eq!(ids_of(&page(&db, &many_params)), [1, 2, 3, 4, 6]);
    let many_contains = vec!["name__contains=zz"; MAX_FILTER_PARAMS - 1].join("&") + "&name__contains=err";
    assert_eq!(ids_of(&page(&db, &many_contains)), [3]);
    let ids: Vec<String> = (1..=MAX_FILTER_VALUES as i64).map(|i| (i * 2).to_string()).collect();
    assert_eq!(ids_of(&page(&db, &format!("id__in={}", ids.join(",")))), [2, 4, 6]);
    assert_eq!(ids_of(&page(&db, &format!("id__notin={}", ids.join(",")))), [1, 3, 5]);
}

#[test]
fn errors_echo_long_input_only_in_part() {
    let long_key = "k".repeat(100_000);
    let detail = rejected(&format!("{long_key}=1"));
    assert!(detail.len() < 200, "{}", detail.len());
    let detail = rejected(&format!("size={}", "9".repeat(100_000)));
    assert!(detail.len() < 300 && detail.contains('…'), "{detail}");
}

const HOSTILE: &[&str] = &[
    "'; DROP TABLE items; --",
    "\" OR 1=1 --",
    "x') OR ('1'='1",
    "); DELETE FROM items; SELECT (",
    "/* comment */ ?1 ?2 :name @x $y",
    "%_\\*",
    "naïve 東京 🚀 \u{0}",
];

#[test]
fn hostile_values_never_change_the_sql() {
    let db = items_db();
    let big = "'".repeat(100_000);
    for op in ["", "__eq", "__ne", "__lt", "__le", "__gt", "__ge", "__contains", "__in", "__notin"] {
        let benign = parsed(&format!("name{op}=apple&order=-name&field=id&limit=3"));
        let scope = Scope { sql: "done = ?".into(), params: vec![Value::Integer(1)] };
        for hostile in HOSTILE.iter().copied().chain([big.as_str()]) {
            let mut pairs = pairs("order=-name&field=id&limit=3");
            let value = if op.ends_with("in") { hostile.replace(',', ";") } else { hostile.to_string() };
            pairs.insert(0, (format!("name{op}"), value.clone()));
            let evil = parse(&ITEMS, &pairs, &[]).unwrap();
            for build in [sql::select, sql::count] {
                let (good, bad) = (build(&ITEMS, &scope, &benign), build(&ITEMS, &scope, &evil));
                assert_eq!(good.sql, bad.sql, "name{op}={hostile}");
                assert_eq!(good.params.len(), bad.params.len());
                assert!(bad.params.contains(&Value::Text(value.clone())));
            }
            run(&db, &ITEMS, &scope, &evil).unwrap();
        }
    }
    // Integer fields: hostile text never even parses.
    for hostile in HOSTILE {
        let pairs = vec![("size".to_string(), hostile.to_string())];
        assert!(parse(&ITEMS, &pairs, &[]).is_err(), "{hostile}");
    }
    assert_eq!(page(&db, "").count, 6, "the table and its rows survive");
}

#[test]
fn hostile_values_match_literally() {
    let db = items_db();
    for (i, hostile) in HOSTILE.iter().enumerate() {
        let params = [Value::from(100 + i as i64), Value::from(*hostile)];
        db.execute("INSERT INTO items (id, name, done) VALUES (?, ?, 0)", &params).unwrap();
    }
    for (i, hostile) in HOSTILE.iter().enumerate() {
        let eq = vec![("name".to_string(), hostile.to_string())];
        let page = run(&db, &ITEMS, &Scope::default(), &parse(&ITEMS, &eq, &[]).unwrap()).unwrap();
        assert_eq!(ids_of(&page), [100 + i as i64], "{hostile}");
    }
    assert_eq!(ids_of(&page(&db, "name__contains=%E6%9D%B1%E4%BA%AC")), [106]);
    assert_eq!(ids_of(&page(&db, "name__contains=%25_")), [105], "no LIKE wildcards");
    assert_eq!(ids_of(&page(&db, "name__contains=--")), [100, 101]);
    assert_eq!(page(&db, "").count, 6 + HOSTILE.len() as i64);
}

#[test]
fn hostile_names_are_rejected_before_any_sql() {
    let db = items_db();
    let names = [
        "id;DROP TABLE items",
        "id; DROP TABLE items; --",
        "id) OR 1=1 --",
        "id\"",
        "name__eq;DROP TABLE items",
        "name__contains) OR (1",
        "(SELECT 1)",
        "ïd",
        "id\u{0}",
        "ID",
    ];
    for name in names {
        for query in [
            vec![(name.to_string(), "1".to_string())],
            vec![("order".to_string(), name.to_string())],
            vec![("order".to_string(), format!("-{name}"))],
            vec![("field".to_string(), name.to_string())],
        ] {
            let error = parse(&ITEMS, &query, &[]).unwrap_err();
            assert_eq!((error.status(), error.code()), (400, "invalid_query"), "{query:?}");
        }
    }
    let tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'items'", &[]).unwrap();
    assert_eq!(tables.rows.len(), 1);
    assert_eq!(page(&db, "").count, 6);
}

#[test]
fn real_tables_with_joins_subqueries_and_collations() {
    const USER_FIELDS: &[Field] = &[
        Field { name: "id", sql: "u.id", kind: Kind::Int, filter: true },
        Field { name: "username", sql: "u.username", kind: Kind::Text, filter: true },
        Field { name: "admin", sql: "u.admin", kind: Kind::Bool, filter: true },
        Field { name: "last_login", sql: "u.last_login", kind: Kind::Int, filter: true },
        Field {
            name: "groups",
            sql: "(SELECT COUNT(*) FROM group_members m WHERE m.user_id = u.id)",
            kind: Kind::Int,
            filter: true,
        },
    ];
    const USERS: Resource = Resource { from: "users u", fields: USER_FIELDS };
    let db = NativeDb::memory().unwrap();
    for (id, name, admin) in [(1, "ada", 1), (2, "Bob", 0), (3, "carol", 0)] {
        let params = [Value::from(id), Value::from(name), Value::from(format!("{name}@x")), Value::from(admin)];
        db.execute("INSERT INTO users (id, username, email, admin, created_at) VALUES (?, ?, ?, ?, 0)", &params)
            .unwrap();
    }
    db.execute("INSERT INTO user_groups (id, name, created_at) VALUES (1, 'ops', 0), (2, 'dev', 0)", &[]).unwrap();
    db.execute("INSERT INTO group_members (group_id, user_id) VALUES (1, 2), (2, 2), (1, 3)", &[]).unwrap();
    let query = |q: &str| {
        let query = parse(&USERS, &pairs(q), &[]).unwrap();
        run(&db, &USERS, &Scope::default(), &query).unwrap()
    };
    // `username` is COLLATE NOCASE: comparisons follow the column; `contains` stays case-sensitive.
    assert_eq!(ids_of(&query("username=BOB")), [2]);
    assert_eq!(ids_of(&query("username__contains=bo")), Vec::<i64>::new());
    assert_eq!(ids_of(&query("username__contains=Bo")), [2]);
    assert_eq!(ids_of(&query("order=-groups")), [2, 3, 1]);
    assert_eq!(ids_of(&query("groups__ge=1&admin=no")), [2, 3]);
    assert_eq!(ids_of(&query("last_login__ne=5")), [1, 2, 3], "NULL is none of the values");
    assert_eq!(ids_of(&query("last_login__lt=5")), Vec::<i64>::new(), "NULL never compares");
    let scoped = run(
        &db,
        &USERS,
        &Scope { sql: "u.admin = ?".into(), params: vec![Value::Integer(0)] },
        &parse(&USERS, &pairs("field=username"), &[]).unwrap(),
    )
    .unwrap();
    assert_eq!(scoped.count, 2);
    assert_eq!(scoped.results[1], json!({"username": "carol"}).as_object().unwrap().clone());
}
