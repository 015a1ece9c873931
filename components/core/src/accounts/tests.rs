//! Unit tests of the account services, each against its own SQLite file and key-value store.

use super::*;
use crate::auth::{self, Principal};
use crate::clock;
use crate::db::Db;
use crate::domain::accounts::{Ref, SESSION_TTL};
use crate::error::ApiError;
use crate::http::Request;
use crate::platform::{Kv, Platform};
use crate::router::Ctx;
use crate::store::users;
use crate::testing::TestPlatform;
use crate::throttle;
use serde_json::{Value as Json, json};
use std::cell::RefCell;

const CLIENT: Option<&str> = Some("10.0.0.7:4000");

/// One test's world: a database, a key-value store, sign-up enabled and a hook that records every event.
struct Env {
    platform: TestPlatform,
    db: Box<dyn Db>,
    kv: Box<dyn Kv>,
    settings: Settings,
    hook: Recorder,
}

#[derive(Default)]
struct Recorder(RefCell<Vec<Json>>);

impl Notifier for Recorder {
    fn notify(&self, event: &Json) {
        self.0.borrow_mut().push(event.clone());
    }
}

impl Env {
    fn new(label: &str) -> Env {
        let platform = TestPlatform::new(label);
        let (db, kv) = (platform.open_db().unwrap(), platform.open_kv().unwrap());
        let settings = Settings { allow_signup: true, notify_url: Some("http://hook.test/events".into()) };
        Env { platform, db, kv, settings, hook: Recorder::default() }
    }

    fn db(&self) -> &dyn Db {
        self.db.as_ref()
    }

    fn kv(&self) -> &dyn Kv {
        self.kv.as_ref()
    }

    fn last_post(&self) -> Json {
        self.hook.0.borrow().last().expect("a hook call").clone()
    }

    /// The principal a token stands for, as a request presenting it would be authenticated.
    fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        auth::authenticate_token(&Ctx::new(&self.platform, Request::default()), token)
    }

    fn signup(&self, input: &SignupInput) -> Result<SignupReceipt, ApiError> {
        signup(self.db(), &self.settings, &self.hook, input, clock::now())
    }

    fn login(&self, input: &LoginInput) -> Result<Session, ApiError> {
        login(self.db(), self.kv(), CLIENT, input, clock::now())
    }

    fn create_user(&self, input: &NewUserInput) -> Result<users::User, ApiError> {
        create_user(self.db(), &Principal::Admin, input, clock::now())
    }

    fn update_user(&self, principal: &Principal, user: &Ref, patch: &UserPatch) -> Result<UserUpdate, ApiError> {
        update_user(self.db(), principal, user, patch, &self.hook, clock::now())
    }
}

fn signup_input(username: &str, email: &str) -> SignupInput {
    SignupInput {
        username: username.into(),
        email: email.into(),
        password: "correct horse".into(),
        first_name: String::new(),
        last_name: String::new(),
    }
}

fn login_input(username: &str, password: &str) -> LoginInput {
    LoginInput { username: Some(username.into()), email: None, password: password.into() }
}

fn new_user(name: &str, password: &str) -> NewUserInput {
    NewUserInput {
        username: name.into(),
        email: format!("{name}@example.org"),
        password: Some(password.into()),
        first_name: String::new(),
        last_name: String::new(),
        active: None,
        admin: false,
        verified: None,
    }
}

#[test]
fn signup_activation_and_login() {
    let env = Env::new("signup");
    let receipt = serde_json::to_value(env.signup(&signup_input("ada", "ada@example.org")).unwrap()).unwrap();
    assert_eq!(receipt["verified"], false);
    let event = env.last_post();
    assert_eq!((event["event"].as_str(), event["email"].as_str()), (Some("user.activation"), Some("ada@example.org")));
    let token = event["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("cva_"));

    let early = env.login(&login_input("ada", "correct horse")).unwrap_err();
    assert_eq!((early.status(), early.to_string().as_str()), (403, "this account is not activated yet"));

    let pending = list_activations(env.db(), &Principal::Admin, &[], clock::now()).unwrap().page;
    assert_eq!(pending.results[0]["token"], token.as_str(), "admins can read pending activations");

    let user = activate(env.db(), &token, clock::now()).unwrap();
    assert!(user.verified);
    assert_eq!(activate(env.db(), &token, clock::now()).unwrap_err().code(), "invalid_token", "a code works once");

    let before = clock::now();
    let session = env.login(&login_input("ADA@example.org", "correct horse")).unwrap();
    let after = clock::now();
    assert!(session.token.starts_with("cvs_"));
    // The clock may tick between the calls: the expiry is TTL after some instant within the login.
    assert!((before + SESSION_TTL..=after + SESSION_TTL).contains(&session.expires_at), "{}", session.expires_at);
    let principal = env.authenticate(&session.token).unwrap();
    assert_eq!(principal.user().unwrap().username, "ada");
}

#[test]
fn signup_never_reveals_a_registered_email() {
    let env = Env::new("enumeration");
    let body = |username, email| serde_json::to_value(env.signup(&signup_input(username, email)).unwrap()).unwrap();
    let first = body("ada", "ada@example.org");
    let again = body("mallory", "ADA@example.org");
    let fresh = body("bob", "bob@example.org");
    for body in [&first, &again, &fresh] {
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["detail", "email", "username", "verified"]);
        assert_eq!(body["detail"], first["detail"]);
    }
    assert_eq!(env.last_post()["event"], "user.activation");
    let posts = env.hook.0.borrow();
    assert_eq!(posts[1], json!({"event": "user.signup_existing", "email": "ADA@example.org"}));
    drop(posts);
    assert!(users::find(env.db(), &Ref::Name("mallory".into())).unwrap().is_none(), "nothing was created");
    let taken = env.signup(&signup_input("ADA", "new@example.org")).unwrap_err();
    assert_eq!((taken.status(), taken.code()), (409, "duplicate"));
}

#[test]
fn signup_is_off_unless_enabled() {
    let mut env = Env::new("signup-off");
    env.settings.allow_signup = false;
    let error = env.signup(&signup_input("ada", "ada@example.org")).unwrap_err();
    assert_eq!(error.status(), 403);
}

#[test]
fn settings_are_read_from_variables() {
    let mut platform = TestPlatform::new("settings");
    let read = |platform: &TestPlatform| Settings::from_ctx(&Ctx::new(platform, Request::default()));
    assert_eq!(read(&platform), Settings { allow_signup: false, notify_url: None });
    platform.variables.insert("allow_signup".into(), "true".into());
    platform.variables.insert("notify_url".into(), "http://hook.test/events".into());
    let expected = Settings { allow_signup: true, notify_url: Some("http://hook.test/events".into()) };
    assert_eq!(read(&platform), expected);
}

#[test]
fn password_reset_answers_alike_and_works_once() {
    let env = Env::new("reset");
    env.create_user(&new_user("ada", "old password")).unwrap();
    let old_session = env.login(&login_input("ada", "old password")).unwrap();

    let reset = |email: &str| {
        let input = ResetRequestInput { email: email.into() };
        request_password_reset(env.db(), env.kv(), CLIENT, &env.hook, &input, clock::now())
    };
    reset("nobody@example.org").unwrap();
    assert_eq!(env.last_post(), json!({"event": "user.password_reset_unknown", "email": "nobody@example.org"}));
    reset("ada@example.org").unwrap();
    let token = env.last_post()["token"].as_str().unwrap().to_string();

    let confirm = |input: &ResetConfirmInput| confirm_password_reset(env.db(), env.kv(), input, clock::now());
    let short = ResetConfirmInput { token: token.clone(), new_password: "short".into() };
    assert_eq!(confirm(&short).unwrap_err().code(), "validation_failed");
    let good = ResetConfirmInput { token: token.clone(), new_password: "new password".into() };
    confirm(&good).unwrap();
    assert_eq!(confirm(&good).unwrap_err().code(), "invalid_token");
    assert_eq!(env.authenticate(&old_session.token).unwrap_err().status(), 401, "sessions ended");
    assert_eq!(env.login(&login_input("ada", "old password")).unwrap_err().status(), 401);
    env.login(&login_input("ada", "new password")).unwrap();
}

#[test]
fn failed_logins_are_throttled_per_account_without_revealing_it() {
    let env = Env::new("throttle");
    env.create_user(&new_user("ada", "correct horse")).unwrap();
    for name in ["ada", "ghost"] {
        for _ in 0..throttle::PER_ACCOUNT.max_failures {
            assert_eq!(env.login(&login_input(name, "wrong password")).unwrap_err().status(), 401, "{name}");
        }
        let blocked = env.login(&login_input(name, "correct horse")).unwrap_err();
        assert!(
            matches!(blocked, ApiError::TooManyRequests { retry_after } if retry_after > 800.0),
            "{name}: {blocked:?}"
        );
    }
    let other = ApiError::invalid_field("username", "give exactly one of `username` and `email`");
    let both = LoginInput { username: Some("a".into()), email: Some("b@c.de".into()), password: "x".into() };
    assert_eq!(env.login(&both).unwrap_err(), other);
}

#[test]
fn users_may_only_touch_themselves_and_change_email_by_confirmation() {
    let env = Env::new("self");
    let ada = env.create_user(&new_user("ada", "correct horse")).unwrap();
    let bob = env.create_user(&new_user("bob", "correct horse")).unwrap();
    let session = env.login(&login_input("ada", "correct horse")).unwrap();
    let me = env.authenticate(&session.token).unwrap();

    assert_eq!(get_user(env.db(), &me, &Ref::Name("ADA".into())).unwrap().id, ada.id);
    assert_eq!(get_user(env.db(), &me, &Ref::Id(bob.id)).unwrap_err().status(), 403);
    assert_eq!(get_user(env.db(), &me, &Ref::Name("nobody".into())).unwrap_err().status(), 403);
    let promote = UserPatch { admin: Some(true), ..Default::default() };
    assert_eq!(env.update_user(&me, &Ref::Id(ada.id), &promote).unwrap_err().status(), 403);

    let patch =
        UserPatch { first_name: Some("Ada".into()), email: Some("bob@example.org".into()), ..Default::default() };
    let update = env.update_user(&me, &Ref::Id(ada.id), &patch).unwrap();
    assert_eq!((update.user.first_name.as_str(), update.user.email.as_str()), ("Ada", "ada@example.org"));
    let body = serde_json::to_value(&update).unwrap();
    assert_eq!(body["pending_email"], "bob@example.org", "a taken address answers the same");
    let token = env.last_post()["token"].as_str().unwrap().to_string();
    let confirm = |token: &str| confirm_email(env.db(), token, clock::now());
    assert_eq!(confirm(&token).unwrap_err().status(), 409, "only the address owner sees the clash");

    let patch = UserPatch { email: Some("ada@new.example.org".into()), ..Default::default() };
    env.update_user(&me, &Ref::Id(ada.id), &patch).unwrap();
    let token = env.last_post()["token"].as_str().unwrap().to_string();
    assert_eq!(confirm(&token).unwrap().email, "ada@new.example.org");

    let root = env.authenticate("root-secret").unwrap();
    assert_eq!(delete_user(env.db(), &me, &Ref::Id(bob.id)).unwrap_err().status(), 403);
    delete_user(env.db(), &root, &Ref::Id(bob.id)).unwrap();
    assert_eq!(delete_user(env.db(), &root, &Ref::Id(bob.id)).unwrap_err().status(), 404);
}

#[test]
fn nobody_changes_their_own_admin_rights() {
    let env = Env::new("set-admin");
    let ada = env.create_user(&new_user("ada", "correct horse")).unwrap();
    assert!(set_admin(env.db(), &Principal::Admin, ada.id, true, clock::now()).unwrap().admin);
    let me = env.authenticate(&env.login(&login_input("ada", "correct horse")).unwrap().token).unwrap();
    assert!(me.is_admin());
    assert_eq!(set_admin(env.db(), &me, ada.id, false, clock::now()).unwrap_err().status(), 403);
}

fn scoped_login(env: &Env, name: &str, scope: SessionScope) -> Result<Session, ApiError> {
    login_scoped(env.db(), env.kv(), CLIENT, &login_input(name, "correct horse"), scope, "curl/8.5.0", clock::now())
}

#[test]
fn a_session_carries_admin_rights_only_with_admin_scope() {
    let env = Env::new("session-scope");
    let root = NewUserInput { admin: true, ..new_user("root", "correct horse") };
    env.create_user(&root).unwrap();
    env.create_user(&new_user("ada", "correct horse")).unwrap();
    let rights = |name: &str, scope| env.authenticate(&scoped_login(&env, name, scope).unwrap().token).unwrap();
    assert!(rights("root", SessionScope::Account).is_admin(), "Conveyor's login: the account's rights");
    assert!(!rights("root", SessionScope::User).is_admin(), "an administrator's session without admin scope");
    assert!(rights("root", SessionScope::Admin).is_admin());
    assert!(!rights("ada", SessionScope::Account).is_admin());
    let refused = scoped_login(&env, "ada", SessionScope::Admin).unwrap_err();
    assert_eq!((refused.status(), refused.code()), (400, "not_admin"));
    let wrong = login_scoped(
        env.db(),
        env.kv(),
        CLIENT,
        &login_input("ada", "wrong horse"),
        SessionScope::Admin,
        "x",
        clock::now(),
    );
    assert_eq!(wrong.unwrap_err().status(), 401, "the password is checked before the scope");

    let me = rights("ada", SessionScope::User);
    let listed = list_credentials(env.db(), &me, clock::now()).unwrap();
    let names: Vec<&str> = listed.iter().map(|c| c.token.name.as_str()).collect();
    assert_eq!(names.len(), 2, "ada's two sessions: {names:?}");
    assert!(names.iter().all(|name| *name == "curl/8.5.0"), "sessions are named as asked: {names:?}");
    assert!(listed.iter().all(|c| c.session && !c.token.admin));
}

#[test]
fn signup_by_email_picks_a_free_username_and_reveals_nothing() {
    let env = Env::new("signup-email");
    let signup = |email: &str| {
        let input = EmailSignupInput { email: email.into(), password: "correct horse".into() };
        signup_by_email(env.db(), &env.settings, &env.hook, &input, clock::now())
    };
    assert_eq!(signup("ada.l+pw@example.org").unwrap().username, "ada.lpw");
    assert_eq!(env.last_post()["event"], "user.activation");
    assert_eq!(signup("ada.l+pw@other.example.org").unwrap().username, "ada.lpw-2");
    assert_eq!(signup("7@example.org").unwrap().username, "user-7");
    assert_eq!(signup("12345@example.org").unwrap().username, "user-12345");
    let again = signup("ADA.L+PW@example.org").unwrap();
    assert_eq!(again.detail, signup("new@example.org").unwrap().detail, "a registered address answers alike");
    let posts = env.hook.0.borrow();
    assert_eq!(posts[posts.len() - 2], json!({"event": "user.signup_existing", "email": "ADA.L+PW@example.org"}));
    drop(posts);
    assert!(users::find(env.db(), &Ref::Name("ada.lpw-3".into())).unwrap().is_none(), "nothing was created");
    assert_eq!(signup("not an address").unwrap_err().status(), 422);
    let mut closed = Env::new("signup-email-off");
    closed.settings.allow_signup = false;
    let input = EmailSignupInput { email: "bob@example.org".into(), password: "correct horse".into() };
    let refused = signup_by_email(closed.db(), &closed.settings, &closed.hook, &input, clock::now());
    assert_eq!(refused.unwrap_err().status(), 403);
}

#[test]
fn an_unverified_account_gets_a_new_activation_token() {
    let env = Env::new("resend");
    let unverified = NewUserInput { verified: Some(false), ..new_user("ada", "correct horse") };
    env.create_user(&unverified).unwrap();
    env.create_user(&new_user("bob", "correct horse")).unwrap();
    let db = env.db();
    // Only a credential made before the account was unverified can ask: an unverified account cannot log in.
    db.execute("UPDATE users SET verified = 1 WHERE username = 'ada'", &[]).unwrap();
    let ada = env.authenticate(&env.login(&login_input("ada", "correct horse")).unwrap().token).unwrap();
    db.execute("UPDATE users SET verified = 0 WHERE username = 'ada'", &[]).unwrap();
    resend_activation(db, &ada, &env.hook, clock::now()).unwrap();
    let first = env.last_post()["token"].as_str().unwrap().to_string();
    resend_activation(db, &ada, &env.hook, clock::now()).unwrap();
    let event = env.last_post();
    assert_eq!((event["event"].as_str(), event["email"].as_str()), (Some("user.activation"), Some("ada@example.org")));
    assert_eq!(activate(db, &first, clock::now()).unwrap_err().code(), "invalid_token", "the earlier token died");
    assert!(activate(db, event["token"].as_str().unwrap(), clock::now()).unwrap().verified);
    let again = resend_activation(db, &ada, &env.hook, clock::now()).unwrap_err();
    assert_eq!((again.status(), again.code()), (409, "already_verified"));
    assert_eq!(resend_activation(db, &Principal::Admin, &env.hook, clock::now()).unwrap_err().status(), 403);
}

#[test]
fn an_email_change_needs_the_password_and_a_confirmation() {
    let env = Env::new("change-email");
    env.create_user(&new_user("ada", "correct horse")).unwrap();
    let me = env.authenticate(&env.login(&login_input("ada", "correct horse")).unwrap().token).unwrap();
    let change = |password: &str, email: &str| {
        let input = EmailChangeInput { current_password: password.into(), new_email: email.into() };
        change_email(env.db(), env.kv(), &me, &input, &env.hook, clock::now())
    };
    let wrong = change("wrong horse", "ada@new.example.org").unwrap_err();
    assert!(matches!(&wrong, ApiError::Validation { errors, .. } if errors[0].field == "current_password"));
    assert!(matches!(change("wrong horse", "nope").unwrap_err(),
        ApiError::Validation { errors, .. } if errors[0].field == "new_email"));
    let update = change("correct horse", "ada@new.example.org").unwrap();
    assert_eq!(
        (update.user.email.as_str(), update.pending_email.as_deref()),
        ("ada@example.org", Some("ada@new.example.org"))
    );
    let token = env.last_post()["token"].as_str().unwrap().to_string();
    assert_eq!(confirm_email(env.db(), &token, clock::now()).unwrap().email, "ada@new.example.org");
}

#[test]
fn credentials_are_revoked_one_by_one_or_all_and_an_account_closed_by_its_owner() {
    let env = Env::new("credentials");
    env.create_user(&new_user("ada", "correct horse")).unwrap();
    env.create_user(&new_user("bob", "correct horse")).unwrap();
    let ada_session = env.login(&login_input("ada", "correct horse")).unwrap().token;
    let ada = env.authenticate(&ada_session).unwrap();
    let bob = env.authenticate(&env.login(&login_input("bob", "correct horse")).unwrap().token).unwrap();
    let named =
        create_token(env.db(), &ada, &TokenInput { name: "ci".into(), expires_at: None, admin: false }, 1).unwrap();
    let listed = list_credentials(env.db(), &ada, clock::now()).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|c| !c.session && c.token.id == named.token.id));

    assert_eq!(revoke_credential(env.db(), &bob, named.token.id).unwrap_err().status(), 404, "not bob's");
    assert!(env.authenticate(&named.secret).is_ok());
    let bob_session = bob.user().unwrap().token_id;
    assert_eq!(revoke_credential(env.db(), &ada, bob_session).unwrap_err().status(), 404);
    revoke_credential(env.db(), &ada, named.token.id).unwrap();
    assert_eq!(env.authenticate(&named.secret).unwrap_err().status(), 401);

    env.login(&login_input("ada", "correct horse")).unwrap();
    assert_eq!(revoke_all_credentials(env.db(), &ada).unwrap(), 2, "sessions too, the one in use included");
    assert_eq!(env.authenticate(&ada_session).unwrap_err().status(), 401);
    assert!(env.authenticate(&env.login(&login_input("bob", "correct horse")).unwrap().token).is_ok());

    delete_own_account(env.db(), &bob).unwrap();
    assert!(users::find(env.db(), &Ref::Name("bob".into())).unwrap().is_none());
    assert_eq!(delete_own_account(env.db(), &Principal::Admin).unwrap_err().status(), 403);
}
