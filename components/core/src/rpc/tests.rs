use super::methods::METHODS;
use super::*;
use crate::auth::Principal;
use crate::control::{INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR};
use crate::http::Request;
use crate::testing::TestPlatform;
use serde_json::json;

/// Sends `body` to the endpoint as the built-in administrator: (status, answer or null for no body).
fn send(platform: &TestPlatform, body: &Json) -> (u16, Json) {
    send_raw(platform, body.to_string().as_bytes())
}

fn send_raw(platform: &TestPlatform, body: &[u8]) -> (u16, Json) {
    let ctx = Ctx::new(platform, Request { method: "POST".into(), body: body.to_vec(), ..Request::default() });
    let response = answer(&ctx, &Caller::Person(Principal::Admin), body);
    let answer = if response.body.is_empty() { Json::Null } else { serde_json::from_slice(&response.body).unwrap() };
    (response.status, answer)
}

fn call(method: &str, params: Json, id: i64) -> Json {
    json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id})
}

fn notification(method: &str, params: Json) -> Json {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

#[test]
fn a_single_call_answers_with_its_outcomes_status() {
    let platform = TestPlatform::new("rpc-single");
    let (status, answer) = send(&platform, &call("create_users_group", json!({"name": "ops"}), 1));
    assert_eq!((status, &answer["id"], &answer["result"]["name"]), (200, &json!(1), &json!("ops")));
    assert!(answer.get("error").is_none());

    let (status, answer) = send(&platform, &call("get_users_group", json!({"group": "nobody"}), 5));
    assert_eq!(
        (status, &answer["error"]["code"], &answer["error"]["data"]["code"]),
        (404, &json!(-32600), &json!("not_found"))
    );
    let (status, answer) = send(&platform, &call("frobnicate", json!({}), 2));
    assert_eq!((status, &answer["error"]["code"]), (501, &json!(METHOD_NOT_FOUND)));
    let (status, answer) = send(&platform, &json!({"jsonrpc": "2.0", "method": "get_users", "params": [1], "id": 3}));
    assert_eq!((status, &answer["error"]["code"], &answer["id"]), (400, &json!(INVALID_PARAMS), &json!(3)));
    assert_eq!(answer["error"]["data"]["field"], "params");
    let (status, answer) = send_raw(&platform, b"{\"jsonrpc\": \"2.0\", ");
    assert_eq!((status, &answer["error"]["code"], &answer["id"]), (400, &json!(PARSE_ERROR), &Json::Null));
    for not_a_request in [json!(7), json!("x"), json!(null)] {
        let (status, answer) = send(&platform, &not_a_request);
        assert_eq!((status, &answer["error"]["code"]), (400, &json!(INVALID_REQUEST)), "{not_a_request}");
    }
}

#[test]
fn notifications_run_without_an_answer() {
    let platform = TestPlatform::new("rpc-notify");
    let (status, answer) = send(&platform, &notification("create_users_group", json!({"name": "quiet"})));
    assert_eq!((status, answer), (204, Json::Null));
    let (_, answer) = send(&platform, &call("get_users_group", json!({"group": "quiet"}), 1));
    assert_eq!(answer["result"]["name"], "quiet", "the notification ran");
    let (status, _) = send(&platform, &notification("no_such_method", json!({})));
    assert_eq!(status, 204, "a notification is never answered, not even with an error");
}

#[test]
fn batches_answer_each_call_with_an_id_and_commit_each_on_its_own() {
    let platform = TestPlatform::new("rpc-batch");
    let batch = json!([
        call("create_users_group", json!({"name": "a"}), 1),
        call("create_users_group", json!({"name": "a"}), 2),
        notification("create_users_group", json!({"name": "b"})),
        {"jsonrpc": "2.0", "method": 5, "id": 4},
        7,
        call("get_users_groups", json!({"query": {"order": "name"}}), 6),
    ]);
    let (status, answers) = send(&platform, &batch);
    assert_eq!(status, 200);
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 5, "every call but the notification is answered: {answers:?}");
    assert_eq!(answers[0]["result"]["name"], "a");
    assert_eq!((&answers[1]["id"], &answers[1]["error"]["data"]["code"]), (&json!(2), &json!("duplicate")));
    assert_eq!((&answers[2]["id"], &answers[2]["error"]["code"]), (&json!(4), &json!(INVALID_REQUEST)));
    assert_eq!((&answers[3]["id"], &answers[3]["error"]["code"]), (&Json::Null, &json!(INVALID_REQUEST)));
    let names: Vec<&Json> = answers[4]["result"]["results"].as_array().unwrap().iter().map(|g| &g["name"]).collect();
    assert_eq!(names, [&json!("a"), &json!("b")], "the failed call undid nothing of the others");
    assert_eq!(answers[4]["result"]["count"], 2);

    let (status, answer) = send(&platform, &json!([notification("get_users", json!({}))]));
    assert_eq!((status, answer), (204, Json::Null), "a batch of notifications has no answer");
}

#[test]
fn empty_and_oversized_batches_are_one_invalid_request() {
    let platform = TestPlatform::new("rpc-batch-limits");
    let (status, answer) = send(&platform, &json!([]));
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(INVALID_REQUEST)));
    let too_many: Vec<Json> =
        (0..=MAX_BATCH as i64).map(|i| call("create_users_group", json!({"name": format!("g{i}")}), i)).collect();
    let (status, answer) = send(&platform, &json!(too_many));
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(INVALID_REQUEST)));
    assert!(answer["error"]["message"].as_str().unwrap().contains("at most 100"));
    let (_, answer) = send(&platform, &call("get_users_groups", json!({}), 1));
    assert_eq!(answer["result"]["count"], 0, "nothing of a refused batch ran");
    let full: Vec<Json> = (0..MAX_BATCH as i64).map(|i| call("get_users", json!({}), i)).collect();
    let (status, answers) = send(&platform, &json!(full));
    assert_eq!((status, answers.as_array().map(Vec::len)), (200, Some(MAX_BATCH)));
}

#[test]
fn discover_describes_every_method_and_its_declared_params_are_the_accepted_ones() {
    let platform = TestPlatform::new("rpc-discover");
    let (status, answer) = send(&platform, &call("rpc.discover", json!({}), 1));
    assert_eq!(status, 200);
    let document = &answer["result"];
    assert!(document["openrpc"].as_str().unwrap().starts_with("1.3"));
    let listed: Vec<&str> =
        document["methods"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    let ours: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
    assert_eq!(listed, ours);
    for method in document["methods"].as_array().unwrap() {
        let result = &method["result"]["schema"];
        if let Some(reference) = result["$ref"].as_str() {
            let schema = reference.trim_start_matches("#/components/schemas/");
            assert!(document["components"]["schemas"][schema].is_object(), "{reference} is defined");
        }
    }
    for method in METHODS {
        let name = method.name;
        let has_required = method.params.iter().any(|p| p.required);
        // Without its params, a method that needs some is refused as invalid params (never "unknown method").
        let (_, answer) = send(&platform, &call(name, json!({}), 1));
        if has_required {
            assert_eq!(answer["error"]["code"], INVALID_PARAMS, "{name} needs params: {answer}");
        }
        // Every declared param is one the method reads: none is refused as unknown.
        for param in method.params {
            let (_, answer) = send(&platform, &call(name, json!({param.name: null}), 1));
            assert_ne!(answer["error"]["data"]["code"], "unknown_field", "{name} declares `{}`: {answer}", param.name);
        }
        let (_, answer) = send(&platform, &call(name, json!({"no_such_param": 1}), 1));
        assert_eq!(answer["error"]["code"], INVALID_PARAMS, "{name} refuses unknown params: {answer}");
        if !has_required {
            assert_eq!(answer["error"]["data"]["field"], "no_such_param", "{name} names the field: {answer}");
        }
    }
}
