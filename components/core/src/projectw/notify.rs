//! The surface's e-mail, through Conveyor's notification hook (`accounts::Notifier`; `accounts::Hook` POSTs
//! to `notify_url`): a finished job's notice for owners who asked for one (`email_notification`), and an
//! administrator's message to every user (`/api/admins/send_email_to_all_users`).
//!
//! Both are rows of `projectw_mail` before they are sent: a trigger queues a job's notice in the transaction
//! that finishes the job (so no path that finishes one can forget it, and the runner's `submit_job_result`
//! never waits for the hook), an announcement is queued in one statement, and the tick
//! `/api/admins/send-mail` hands queued mail to the hook ([`send_due`]). A sender that dies mid-batch leaves
//! what it had not sent to the next call; what the hook refuses is logged and dropped, as for account mail.

use crate::accounts::Notifier;
use crate::db::Db;
use crate::error::ApiError;
use crate::store::projectw::{self as store, MailRow};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

/// The most mails one call sends.
pub const BATCH: i64 = 100;

/// How long a sender holds the mails it claimed before another may send them.
pub const CLAIM_SECONDS: i64 = 120;

/// `EmailToUsersRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Announcement {
    pub subject: String,
    pub body: String,
}

/// Queues `announcement` for every active user with a verified address; answers how many.
pub fn announce(db: &dyn Db, announcement: &Announcement, now: i64) -> Result<usize, ApiError> {
    Ok(store::queue_announcement(db, &announcement.subject, &announcement.body, now)?)
}

/// What one call of [`send_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Sent {
    /// Handed to the hook.
    pub sent: usize,
    /// Dropped: the recipient's account is disabled.
    pub dropped: usize,
}

/// Hands up to [`BATCH`] queued mails to `notifier`, oldest first, each removed once handed over. Without a
/// notifier (no `notify_url`) nothing is sent and queued mail waits for one, for [`KEEP_SECONDS`] at most
/// ([`prune`], called by retention).
pub fn send_due(db: &dyn Db, notifier: Option<&dyn Notifier>, now: i64) -> Result<Sent, ApiError> {
    let mut outcome = Sent::default();
    let Some(notifier) = notifier else { return Ok(outcome) };
    for mail in store::claim_mail(db, now + CLAIM_SECONDS, BATCH, now)? {
        if mail.active {
            notifier.notify(&event(&mail));
            outcome.sent += 1;
        } else {
            outcome.dropped += 1;
        }
        store::delete_mail(db, mail.id)?;
    }
    Ok(outcome)
}

/// How long queued mail waits for a notification hook before it is dropped.
pub const KEEP_SECONDS: i64 = 24 * 60 * 60;

/// Drops mail queued more than [`KEEP_SECONDS`] before `now` (an instance without a hook); answers how many.
pub fn prune(db: &dyn Db, now: i64) -> Result<usize, ApiError> {
    Ok(store::prune_mail(db, now - KEEP_SECONDS)?)
}

/// The hook's event: `projectw.job_finished` or `projectw.announcement`, with the address and name, and the
/// subject and plain-text body to send (a finished job's in Project-W's words).
fn event(mail: &MailRow) -> Json {
    match (mail.kind.as_str(), mail.job) {
        ("job_finished", Some(job)) => {
            let (subject, body) = match &mail.error_msg {
                None => (
                    format!("Project-W: Job {job} finished successfully!"),
                    format!(
                        "Your Project-W job with id {job} has finished successfully!\n\
                         You can download the transcript by clicking on the download button next to the listed job."
                    ),
                ),
                Some(error) => (
                    format!("Project-W: Job {job} failed!"),
                    format!(
                        "Your Project-W job with id {job} was aborted with the following error message:\n\n{error}\n\n\
                         You can try to re-submit your job after ensuring that your job settings are valid."
                    ),
                ),
            };
            json!({
                "event": "projectw.job_finished", "email": mail.email, "username": mail.username, "job": job,
                "success": mail.error_msg.is_none(), "error_msg": mail.error_msg, "subject": subject, "body": body,
            })
        }
        _ => json!({
            "event": "projectw.announcement", "email": mail.email, "username": mail.username,
            "subject": mail.subject, "body": mail.body,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::NativeDb;
    use crate::platform::MemoryKv;
    use crate::projectw::{jobs, runners};
    use std::cell::RefCell;

    #[derive(Default)]
    struct Recorder(RefCell<Vec<Json>>);

    impl Notifier for Recorder {
        fn notify(&self, event: &Json) {
            self.0.borrow_mut().push(event.clone());
        }
    }

    fn users(db: &dyn Db) {
        db.execute(
            "INSERT INTO users (id, username, email, active, verified, created_at) VALUES \
             (1, 'ada', 'ada@x', 1, 1, 0), (2, 'bob', 'bob@x', 1, 1, 0), (3, 'eve', 'eve@x', 1, 0, 0), \
             (4, 'off', 'off@x', 0, 1, 0)",
            &[],
        )
        .unwrap();
    }

    /// Runs a job of `owner` with `settings` through a runner that answers `result`.
    fn run_job(db: &dyn Db, owner: i64, settings: &str, result: runners::RunnerResult) -> i64 {
        let kv = MemoryKv::default();
        let job = crate::projectw::events::submit_job(db, owner, "a.mp3", settings, 0).unwrap();
        let created = runners::create(db, 0).unwrap();
        let row = runners::authenticate(db, &created.token).unwrap();
        let info =
            serde_json::from_value(json!({"name": "r", "version": "1", "git_hash": "h", "source_code_url": "u"}))
                .unwrap();
        runners::register(db, &kv, &row, &info, 1).unwrap();
        let row = runners::authenticate(db, &created.token).unwrap();
        runners::job_audio(db, &row, 2).unwrap();
        let row = runners::authenticate(db, &created.token).unwrap();
        runners::submit(db, &row, &result, 3).unwrap();
        runners::unregister(db, &row, 4).unwrap();
        job
    }

    #[test]
    fn a_finished_job_mails_its_owner_once_when_asked_and_an_abort_does_not() {
        let db = NativeDb::memory().unwrap();
        users(&db);
        let asked = r#"{"email_notification": true}"#;
        let success =
            run_job(&db, 1, asked, runners::RunnerResult::Transcript(["t", "s", "v", "w", "{}"].map(String::from)));
        let failure = run_job(&db, 2, asked, runners::RunnerResult::Error("CUDA: out of memory".into()));
        run_job(&db, 1, r#"{"email_notification": false}"#, runners::RunnerResult::Error("x".into()));
        let aborted = crate::projectw::events::submit_job(&db, 1, "b", asked, 5).unwrap();
        jobs::abort(&db, 1, &[aborted], 6).unwrap();

        let hook = Recorder::default();
        assert_eq!(send_due(&db, Some(&hook), 10).unwrap(), Sent { sent: 2, dropped: 0 });
        let events = hook.0.take();
        assert_eq!(events[0]["event"], "projectw.job_finished");
        assert_eq!(
            (&events[0]["email"], &events[0]["job"], &events[0]["success"]),
            (&json!("ada@x"), &json!(success), &json!(true))
        );
        assert_eq!(events[0]["subject"], format!("Project-W: Job {success} finished successfully!"));
        assert_eq!(
            (&events[1]["email"], &events[1]["job"], &events[1]["success"]),
            (&json!("bob@x"), &json!(failure), &json!(false))
        );
        assert_eq!(events[1]["error_msg"], "CUDA: out of memory");
        assert!(events[1]["body"].as_str().unwrap().contains("CUDA: out of memory"));
        assert_eq!(send_due(&db, Some(&hook), 11).unwrap(), Sent::default(), "each once");
    }

    #[test]
    fn without_a_hook_mail_waits_a_day_and_is_then_dropped() {
        let db = NativeDb::memory().unwrap();
        users(&db);
        let announcement = Announcement { subject: "s".into(), body: "b".into() };
        announce(&db, &announcement, 100).unwrap();
        assert_eq!(send_due(&db, None, 200).unwrap(), Sent::default());
        assert_eq!(prune(&db, 100 + KEEP_SECONDS).unwrap(), 0);
        let hook = Recorder::default();
        assert_eq!(send_due(&db, Some(&hook), 300).unwrap().sent, 2, "a hook configured later sends it");
        announce(&db, &announcement, 400).unwrap();
        assert_eq!(prune(&db, 401 + KEEP_SECONDS).unwrap(), 2);
        assert_eq!(send_due(&db, Some(&hook), 500).unwrap(), Sent::default());
    }

    #[test]
    fn announcements_reach_active_verified_users_and_a_dead_senders_claim_lapses() {
        let db = NativeDb::memory().unwrap();
        users(&db);
        let announcement = Announcement { subject: "Maintenance".into(), body: "Down at 6.".into() };
        assert_eq!(announce(&db, &announcement, 0).unwrap(), 2, "ada and bob; not unverified eve, not disabled off");
        // A sender claimed them and died before handing them over.
        assert_eq!(store::claim_mail(&db, 100, BATCH, 0).unwrap().len(), 2);
        let hook = Recorder::default();
        assert_eq!(send_due(&db, Some(&hook), 99).unwrap(), Sent::default(), "held by the first sender");
        db.execute("UPDATE users SET active = 0 WHERE id = 2", &[]).unwrap();
        assert_eq!(send_due(&db, Some(&hook), 100).unwrap(), Sent { sent: 1, dropped: 1 });
        assert_eq!(
            hook.0.take(),
            [json!({"event": "projectw.announcement", "email": "ada@x", "username": "ada",
                    "subject": "Maintenance", "body": "Down at 6."})]
        );
    }
}
