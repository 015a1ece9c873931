use super::*;
use crate::error::FieldError;
use crate::http::Request;
use serde_json::json;

fn members(body: Json, write: Write) -> Result<Map<String, Json>, ApiError> {
    schedule_members(&body, write)
}

fn body_of(response: &Response) -> Json {
    serde_json::from_slice(&response.body).unwrap()
}

#[test]
fn bodies_keep_only_writable_members_and_refuse_in_drfs_words() {
    let read = members(
        json!({"endpoint": "http://e/", "cron_definition": "* * * * *", "frequency": 2, "next_send_at": null,
               "url": "x", "id": "y", "created_by": "z", "enabled": "yes", "payload": null, "whatever": 1}),
        Write::Create,
    )
    .unwrap();
    assert_eq!(
        Json::Object(read),
        json!({"endpoint": "http://e/", "cron_definition": "* * * * *", "interval_definition": null,
               "enabled": true, "payload": null})
    );
    let input =
        schedule_input(&members(json!({"endpoint": "http://e/", "interval_definition": ""}), Write::Create).unwrap());
    assert_eq!((input.unwrap().interval_definition, None::<String>), (None, None), "empty is no definition");
    let partial = members(json!({"enabled": false}), Write::Partial).unwrap();
    assert_eq!(Json::Object(partial), json!({"enabled": false}), "PATCH touches only what it names");
    let fields = |result: Result<Map<String, Json>, ApiError>| match result.unwrap_err() {
        ApiError::Validation { errors, .. } => errors,
        other => panic!("{other:?}"),
    };
    assert_eq!(fields(members(json!({}), Write::Replace)), [FieldError::new("endpoint", "This field is required.")]);
    assert_eq!(fields(members(json!({"endpoint": null}), Write::Partial))[0].message, "This field may not be null.");
    assert_eq!(fields(members(json!({"endpoint": "http://e/", "enabled": 3}), Write::Create))[0].field, "enabled");
    assert_eq!(
        fields(members(json!({"endpoint": "x", "cron_definition": 5}), Write::Create))[0].field,
        "cron_definition"
    );
    assert_eq!(fields(members(Json::Null, Write::Create))[0].message, "No data provided");
    assert_eq!(
        fields(members(json!("x"), Write::Create))[0].message,
        "Invalid data. Expected a dictionary, but got str."
    );
}

#[test]
fn errors_are_drf_bodies() {
    let validation = ApiError::Validation {
        detail: "x".into(),
        errors: vec![FieldError::new("cron_definition", "a"), FieldError::new("cron_definition", "b")],
    };
    let response = error(&validation);
    assert_eq!((response.status, body_of(&response)), (400, json!({"cron_definition": ["a", "b"]})));
    assert!(response.headers.contains(&("content-type".into(), "application/json".into())));
    let unauthorized = error(&ApiError::Unauthorized(INVALID_TOKEN.into()));
    assert_eq!(body_of(&unauthorized), json!({"detail": "Invalid token."}));
    assert!(unauthorized.headers.contains(&("www-authenticate".into(), CHALLENGE.into())));
    assert_eq!(body_of(&error(&ApiError::Forbidden("administrator rights required".into())))["detail"], NO_PERMISSION);
    assert_eq!(body_of(&error(&ApiError::NotFound("schedule `x` not found".into()))), json!({"detail": "Not found."}));
    assert_eq!(body_of(&error(&ApiError::internal("SELECT secret"))), json!({"detail": "A server error occurred."}));
    assert_eq!(body_of(&method_not_allowed("PUT")), json!({"detail": "Method \"PUT\" not allowed."}));
    let caller = signed_in(Ok(Caller::Person(crate::auth::Principal::Anonymous))).unwrap_err();
    assert_eq!(caller, ApiError::Unauthorized(NOT_PROVIDED.into()));
    let wrong = signed_in(Err(ApiError::Unauthorized("invalid or revoked token".into()))).unwrap_err();
    assert_eq!(wrong, ApiError::Unauthorized(INVALID_TOKEN.into()));
}

#[test]
fn usernames_from_addresses_pass_conveyors_rules() {
    let first: Vec<String> = usernames_for("ada+x@example.org").take(3).collect();
    assert_eq!(first, ["ada_x_example.org", "ada_x_example.org-2", "ada_x_example.org-3"]);
    let long = format!("{}@example.org", "a".repeat(60));
    for name in usernames_for(&long).take(99).chain(usernames_for("a@b")) {
        assert_eq!(crate::domain::accounts::username(&name), Ok(()), "{name}");
    }
    assert_eq!(usernames_for(&long).nth(98).unwrap().len(), 40);
}

#[test]
fn resources_link_on_the_clients_host_with_drf_datetimes() {
    assert_eq!(datetime(1_575_536_295), json!("2019-12-05T08:58:15Z"));
    let native = json!({"id": "u-1", "owner": 7, "enabled": true, "cron_definition": null,
        "interval_definition": "1 minutes", "endpoint": "http://e/", "payload": {"a": 1}, "next_run_at": 60,
        "created_at": 0, "updated_at": 30, "project": null});
    let shown = schedule("http://h:3000", &native);
    assert_eq!(shown["url"], "http://h:3000/api/v1/schedule/u-1/");
    assert_eq!(shown["created_by"], "http://h:3000/api/v1/user/7/");
    assert_eq!(shown["next_send_at"], "1970-01-01T00:01:00Z");
    assert_eq!((shown["auth_token"].clone(), shown["frequency"].clone()), (Json::Null, Json::Null));
    assert_eq!(shown.as_object().unwrap().len(), 14);
    assert!(is_webhook(&native));
    assert!(!is_webhook(&json!({"endpoint": null, "project": 1})));
    assert_eq!(task_id(255), "00000000-0000-4000-8000-0000000000ff");
    let groups = [json!({"id": 2, "members": [{"id": 7}]}), json!({"id": 3, "members": []})];
    let groups: Vec<Map<String, Json>> = groups.iter().map(|g| g.as_object().unwrap().clone()).collect();
    assert_eq!(groups_of(7, &groups), [2]);
}

#[test]
fn pages_ask_for_the_clients_limit_and_offset_only() {
    let request = Request { query: "enabled=True&cursor=abc&offset=4&limit=2".into(), ..Request::default() };
    let pairs = page_query(&request, "-id", &[("endpoint__gt", "")]);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(pairs, [("limit", "2"), ("order", "-id"), ("offset", "4"), ("endpoint__gt", "")]);
    let default = page_query(&Request::default(), "-id", &[]);
    assert_eq!(default[0], ("limit".to_string(), PAGE_SIZE.to_string()));
}
