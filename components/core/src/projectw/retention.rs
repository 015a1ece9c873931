//! Retention (the tick `/api/admins/run-retention`): finished jobs older than the variable
//! `job_retention_days` are deleted with their audio and transcripts (Project-W's
//! `finished_job_retention_in_days`; unset keeps them forever); job events older than a day are pruned,
//! uploads no job took within an hour are swept, and mail that waited a day for a notification hook dropped.

use super::{events, jobs, notify};
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::store::projectw as store;
use serde::Serialize;

/// The most jobs one call deletes (the next call continues).
pub const JOB_BATCH: i64 = 500;

const DAY: i64 = 24 * 60 * 60;

/// The retention in days from the variable's value: a whole number of at least 1 (Project-W's `ge=1`);
/// unset, empty or anything else keeps jobs forever.
pub fn days(value: Option<&str>) -> Option<i64> {
    value?.trim().parse::<i64>().ok().filter(|days| (1..=100 * 365).contains(days))
}

/// What one call removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Retained {
    pub jobs_deleted: usize,
    pub events_pruned: usize,
    /// Uploads no job took within an hour (clients that went away mid-upload).
    pub uploads_swept: i64,
    /// Mail that waited a day for a notification hook (none is configured).
    pub mail_dropped: usize,
}

/// Deletes the jobs that finished more than `days` days before `now` (up to [`JOB_BATCH`]; each is a
/// `job_deleted` event for its owner), then prunes old events, abandoned uploads and mail nobody can send.
pub fn run(db: &dyn Db, days: Option<i64>, now: i64) -> Result<Retained, ApiError> {
    let jobs_deleted = match days {
        Some(days) => db::transaction(db, || store::delete_finished_before(db, now - days * DAY, JOB_BATCH))?.len(),
        None => 0,
    };
    let events_pruned = events::prune(db)?;
    let uploads_swept = jobs::sweep_abandoned_uploads(db, now)?;
    Ok(Retained { jobs_deleted, events_pruned, uploads_swept, mail_dropped: notify::prune(db, now)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::NativeDb;

    #[test]
    fn the_variable_reads_as_whole_days_of_at_least_one() {
        assert_eq!(days(Some("30")), Some(30));
        assert_eq!(days(Some(" 1 ")), Some(1));
        for unset in [None, Some(""), Some("0"), Some("-3"), Some("1.5"), Some("forever"), Some("99999999999")] {
            assert_eq!(days(unset), None, "{unset:?}");
        }
    }

    #[test]
    fn only_jobs_finished_before_the_limit_go_with_their_transcripts() {
        let db = NativeDb::memory().unwrap();
        db.execute("INSERT INTO users (id, username, email, created_at) VALUES (1, 'ada', 'ada@x', 0)", &[]).unwrap();
        let submit = |name: &str| crate::projectw::events::submit_job(&db, 1, name, "{}", 0).unwrap();
        let (old, recent, running) = (submit("old"), submit("recent"), submit("running"));
        jobs::abort(&db, 1, &[old], 10 * DAY).unwrap();
        jobs::abort(&db, 1, &[recent], 12 * DAY).unwrap();
        store::insert_transcript(&db, old, "as_txt", "t").unwrap();
        assert_eq!(run(&db, None, 100 * DAY).unwrap().jobs_deleted, 0, "unset keeps everything");
        let retained = run(&db, Some(2), 12 * DAY + 1).unwrap();
        assert_eq!(retained.jobs_deleted, 1);
        let left: Vec<i64> = store::jobs_of(&db, 1, &[old, recent, running], 0).unwrap().iter().map(|j| j.id).collect();
        assert_eq!(left, [recent, running]);
        let transcripts = db.execute("SELECT COUNT(*) AS n FROM projectw_transcripts", &[]).unwrap();
        assert_eq!(transcripts.map_first(|row| row.int("n")).unwrap(), Some(0));
        assert_eq!(run(&db, Some(2), 14 * DAY).unwrap().jobs_deleted, 0, "exactly at the limit stays");
        assert_eq!(run(&db, Some(2), 14 * DAY + 1).unwrap().jobs_deleted, 1, "a second later it goes");
    }
}
