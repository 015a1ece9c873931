//! The SQL of the Project-W surface's own tables (`sql/0005_projectw.sql`): runner sessions, jobs' metadata, audio
//! chunks, transcripts and saved settings. Tasks and workers are read and changed only through their services.

use crate::db::{self, Db, DbError, Row, Value};

/// A runner: a worker created by `/admins/create_runner`, and its session.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerRow {
    pub worker: i64,
    pub name: String,
    pub version: String,
    pub git_hash: String,
    pub source_code_url: String,
    pub priority: i64,
    pub session_hash: Option<Vec<u8>>,
    pub online_until: Option<i64>,
    pub task: Option<i64>,
    pub in_process: bool,
}

impl RunnerRow {
    /// Online: registered and heartbeating within the expiry.
    pub fn online(&self, now: i64) -> bool {
        self.session_hash.is_some() && self.online_until.is_some_and(|until| until > now)
    }
}

fn runner(row: &Row<'_>) -> Result<RunnerRow, DbError> {
    let session_hash = match row.value("session_hash")? {
        Value::Null => None,
        _ => Some(row.blob("session_hash")?),
    };
    Ok(RunnerRow {
        worker: row.int("worker")?,
        name: row.text("name")?,
        version: row.text("version")?,
        git_hash: row.text("git_hash")?,
        source_code_url: row.text("source_code_url")?,
        priority: row.int("priority")?,
        session_hash,
        online_until: row.opt_int("online_until")?,
        task: row.opt_int("task")?,
        in_process: row.bool("in_process")?,
    })
}

const RUNNER: &str =
    "worker, name, version, git_hash, source_code_url, priority, session_hash, online_until, task, in_process";

/// Marks a worker as a Project-W runner.
pub fn insert_runner(db: &dyn Db, worker: i64, now: i64) -> Result<(), DbError> {
    db.execute("INSERT INTO projectw_runners (worker, created_at) VALUES (?, ?)", &[worker.into(), now.into()])?;
    Ok(())
}

/// A runner by its worker id.
pub fn runner_get(db: &dyn Db, worker: i64) -> Result<Option<RunnerRow>, DbError> {
    db.execute(&format!("SELECT {RUNNER} FROM projectw_runners WHERE worker = ?"), &[worker.into()])?.map_first(runner)
}

/// What a runner tells about itself at registration.
pub struct Registration<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub git_hash: &'a str,
    pub source_code_url: &'a str,
    pub priority: i64,
}

/// Opens a session for an offline runner (guarded: `false` when it is online, so two registrations racing
/// cannot both win). Any job of an earlier session must have been handed back first.
pub fn open_session(
    db: &dyn Db,
    worker: i64,
    r: &Registration<'_>,
    hash: &[u8],
    until: i64,
    now: i64,
) -> Result<bool, DbError> {
    let rows = db.execute(
        "UPDATE projectw_runners SET name = ?, version = ?, git_hash = ?, source_code_url = ?, priority = ?, \
         session_hash = ?, online_until = ?, task = NULL, in_process = 0 \
         WHERE worker = ? AND (session_hash IS NULL OR online_until IS NULL OR online_until <= ?) RETURNING worker",
        &[
            r.name.into(),
            r.version.into(),
            r.git_hash.into(),
            r.source_code_url.into(),
            r.priority.into(),
            Value::Blob(hash.to_vec()),
            until.into(),
            worker.into(),
            now.into(),
        ],
    )?;
    Ok(!rows.rows.is_empty())
}

/// Pushes a runner's expiry on.
pub fn touch(db: &dyn Db, worker: i64, until: i64) -> Result<(), DbError> {
    db.execute("UPDATE projectw_runners SET online_until = ? WHERE worker = ?", &[until.into(), worker.into()])?;
    Ok(())
}

/// Sets (or clears) a runner's job, and whether it fetched the audio.
pub fn set_task(db: &dyn Db, worker: i64, task: Option<i64>, in_process: bool) -> Result<(), DbError> {
    db.execute(
        "UPDATE projectw_runners SET task = ?, in_process = ? WHERE worker = ?",
        &[task.into(), (in_process as i64).into(), worker.into()],
    )?;
    Ok(())
}

/// Ends a runner's session.
pub fn close_session(db: &dyn Db, worker: i64) -> Result<(), DbError> {
    db.execute(
        "UPDATE projectw_runners SET session_hash = NULL, online_until = NULL, task = NULL, in_process = 0 WHERE worker = ?",
        &[worker.into()],
    )?;
    Ok(())
}

/// Forgets a runner (its worker stays, with a secret nobody knows).
pub fn delete_runner(db: &dyn Db, worker: i64) -> Result<(), DbError> {
    db.execute("DELETE FROM projectw_runners WHERE worker = ?", &[worker.into()])?;
    Ok(())
}

/// Whether an online runner without a job has a higher priority than `priority` (it gets the next job).
pub fn higher_idle_runner(db: &dyn Db, worker: i64, priority: i64, now: i64) -> Result<bool, DbError> {
    let rows = db.execute(
        "SELECT 1 AS x FROM projectw_runners WHERE worker <> ? AND priority > ? AND task IS NULL \
         AND session_hash IS NOT NULL AND online_until > ? LIMIT 1",
        &[worker.into(), priority.into(), now.into()],
    )?;
    Ok(!rows.rows.is_empty())
}

/// A job with its task's state and the online runner holding it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub id: i64,
    pub owner: i64,
    pub file_name: String,
    pub settings: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub downloaded: Option<bool>,
    pub error_msg: Option<String>,
    pub runner_id: Option<i64>,
    pub runner_name: Option<String>,
    pub runner_version: Option<String>,
    pub runner_git_hash: Option<String>,
    pub runner_source_code_url: Option<String>,
    /// The task's status and progress.
    pub status: String,
    pub progress: i64,
    /// The online runner that holds the job.
    pub holder: Option<Holder>,
}

/// The online runner holding a job, and whether it fetched the audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub worker: i64,
    pub name: String,
    pub version: String,
    pub git_hash: String,
    pub source_code_url: String,
    pub in_process: bool,
}

const JOB: &str = "j.task, j.owner, j.file_name, j.settings, j.created_at, j.finished_at, j.downloaded, j.error_msg, \
     j.runner_id, j.runner_name, j.runner_version, j.runner_git_hash, j.runner_source_code_url, t.status, t.progress, \
     r.worker AS holder, r.name AS holder_name, r.version AS holder_version, r.git_hash AS holder_git_hash, \
     r.source_code_url AS holder_url, r.in_process AS holder_in_process";

/// The FROM of a job read at `now` (bind `now` first).
const JOB_FROM: &str = "projectw_jobs j JOIN tasks t ON t.id = j.task \
     LEFT JOIN projectw_runners r ON r.task = j.task AND r.session_hash IS NOT NULL AND r.online_until > ?";

fn job(row: &Row<'_>) -> Result<JobRow, DbError> {
    let holder = match row.opt_int("holder")? {
        None => None,
        Some(worker) => Some(Holder {
            worker,
            name: row.text("holder_name")?,
            version: row.text("holder_version")?,
            git_hash: row.text("holder_git_hash")?,
            source_code_url: row.text("holder_url")?,
            in_process: row.bool("holder_in_process")?,
        }),
    };
    Ok(JobRow {
        id: row.int("task")?,
        owner: row.int("owner")?,
        file_name: row.text("file_name")?,
        settings: row.text("settings")?,
        created_at: row.int("created_at")?,
        finished_at: row.opt_int("finished_at")?,
        downloaded: row.opt_int("downloaded")?.map(|d| d != 0),
        error_msg: row.opt_text("error_msg")?,
        runner_id: row.opt_int("runner_id")?,
        runner_name: row.opt_text("runner_name")?,
        runner_version: row.opt_text("runner_version")?,
        runner_git_hash: row.opt_text("runner_git_hash")?,
        runner_source_code_url: row.opt_text("runner_source_code_url")?,
        status: row.text("status")?,
        progress: row.int("progress")?,
        holder,
    })
}

/// A job by id (any owner).
pub fn job_get(db: &dyn Db, id: i64, now: i64) -> Result<Option<JobRow>, DbError> {
    db.execute(&format!("SELECT {JOB} FROM {JOB_FROM} WHERE j.task = ?"), &[now.into(), id.into()])?.map_first(job)
}

/// The jobs of `owner` among `ids`.
pub fn jobs_of(db: &dyn Db, owner: i64, ids: &[i64], now: i64) -> Result<Vec<JobRow>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut params: Vec<Value> = vec![now.into(), owner.into()];
    params.extend(ids.iter().map(|id| Value::from(*id)));
    let marks = vec!["?"; ids.len()].join(", ");
    db.execute(
        &format!("SELECT {JOB} FROM {JOB_FROM} WHERE j.owner = ? AND j.task IN ({marks}) ORDER BY j.task"),
        &params,
    )?
    .map_all(job)
}

/// Which of a user's jobs a listing counts.
#[derive(Debug, Clone, Copy)]
pub struct JobFilter {
    pub exclude_finished: bool,
    pub exclude_downloaded: bool,
}

impl JobFilter {
    fn sql(self) -> &'static str {
        if self.exclude_finished {
            " AND j.finished_at IS NULL"
        } else if self.exclude_downloaded {
            " AND (j.downloaded IS NULL OR j.downloaded = 0)"
        } else {
            ""
        }
    }
}

/// How many of `owner`'s jobs pass `filter`.
pub fn count(db: &dyn Db, owner: i64, filter: JobFilter) -> Result<i64, DbError> {
    let sql = format!("SELECT COUNT(*) AS n FROM projectw_jobs j WHERE j.owner = ?{}", filter.sql());
    Ok(db.execute(&sql, &[owner.into()])?.map_first(|row| row.int("n"))?.unwrap_or(0))
}

/// A window of `owner`'s job ids, ordered by creation time or file name (then id, so windows never overlap).
pub fn window(
    db: &dyn Db,
    owner: i64,
    filter: JobFilter,
    by_file_name: bool,
    descending: bool,
    offset: i64,
    limit: i64,
) -> Result<Vec<i64>, DbError> {
    let key = if by_file_name { "j.file_name" } else { "j.created_at" };
    let direction = if descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT j.task FROM projectw_jobs j WHERE j.owner = ?{} ORDER BY {key} {direction}, j.task {direction} LIMIT ? OFFSET ?",
        filter.sql()
    );
    db.execute(&sql, &[owner.into(), limit.into(), offset.into()])?.map_all(|row| row.int("task"))
}

/// Inserts a job's row, owning the completed `upload`.
pub fn insert_job(
    db: &dyn Db,
    task: i64,
    owner: i64,
    upload: i64,
    file_name: &str,
    settings: &str,
    now: i64,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO projectw_jobs (task, owner, upload, file_name, settings, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        &[task.into(), owner.into(), upload.into(), file_name.into(), settings.into(), now.into()],
    )?;
    Ok(())
}

/// Starts an upload for `owner`; returns its id.
pub fn insert_upload(db: &dyn Db, owner: i64, now: i64) -> Result<i64, DbError> {
    db.execute(
        "INSERT INTO projectw_uploads (owner, created_at) VALUES (?, ?) RETURNING id",
        &[owner.into(), now.into()],
    )?
    .map_first(|row| row.int("id"))?
    .ok_or_else(|| DbError::Other("no id returned".into()))
}

/// Appends chunk `seq` to an upload.
pub fn insert_chunk(db: &dyn Db, upload: i64, seq: i64, data: &[u8]) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO projectw_audio (upload, seq, data) VALUES (?, ?, ?)",
        &[upload.into(), seq.into(), Value::Blob(data.to_vec())],
    )?;
    Ok(())
}

/// Deletes an upload and its chunks.
pub fn delete_upload(db: &dyn Db, upload: i64) -> Result<(), DbError> {
    db.execute("DELETE FROM projectw_uploads WHERE id = ?", &[upload.into()])?;
    Ok(())
}

/// Deletes uploads started before `before` that no job owns (clients that went away mid-upload); returns
/// how many.
pub fn delete_abandoned_uploads(db: &dyn Db, before: i64) -> Result<i64, DbError> {
    let rows = db.execute(
        "DELETE FROM projectw_uploads WHERE created_at < ? \
         AND NOT EXISTS (SELECT 1 FROM projectw_jobs j WHERE j.upload = projectw_uploads.id) RETURNING id",
        &[before.into()],
    )?;
    Ok(rows.rows.len() as i64)
}

/// The upload of a job, while it keeps its audio.
pub fn job_upload(db: &dyn Db, job: i64) -> Result<Option<i64>, DbError> {
    db.execute("SELECT upload FROM projectw_jobs WHERE task = ? AND upload IS NOT NULL", &[job.into()])?
        .map_first(|row| row.int("upload"))
}

/// One chunk of an upload (`None` past its end, or once it was freed).
pub fn chunk(db: &dyn Db, upload: i64, seq: i64) -> Result<Option<Vec<u8>>, DbError> {
    db.execute("SELECT data FROM projectw_audio WHERE upload = ? AND seq = ?", &[upload.into(), seq.into()])?
        .map_first(|row| row.blob("data"))
}

/// Frees a job's audio.
pub fn delete_audio(db: &dyn Db, job: i64) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM projectw_uploads WHERE id = (SELECT upload FROM projectw_jobs WHERE task = ?)",
        &[job.into()],
    )?;
    Ok(())
}

/// Records a job's end: success (`error` None: `downloaded` false) or failure, and who ran it.
pub fn finish(db: &dyn Db, job: i64, error: Option<&str>, by: Option<&RunnerRow>, now: i64) -> Result<(), DbError> {
    let (worker, name, version, git_hash, url) = match by {
        Some(by) => (
            Some(by.worker),
            Some(by.name.as_str()),
            Some(by.version.as_str()),
            Some(by.git_hash.as_str()),
            Some(by.source_code_url.as_str()),
        ),
        None => (None, None, None, None, None),
    };
    db.execute(
        "UPDATE projectw_jobs SET finished_at = COALESCE(finished_at, ?), error_msg = ?, \
         downloaded = CASE WHEN ? IS NULL THEN 0 ELSE NULL END, \
         runner_id = COALESCE(?, runner_id), runner_name = COALESCE(?, runner_name), \
         runner_version = COALESCE(?, runner_version), runner_git_hash = COALESCE(?, runner_git_hash), \
         runner_source_code_url = COALESCE(?, runner_source_code_url) WHERE task = ?",
        &[
            now.into(),
            error.into(),
            error.into(),
            worker.into(),
            name.into(),
            version.into(),
            git_hash.into(),
            url.into(),
            job.into(),
        ],
    )?;
    delete_audio(db, job)
}

/// Stores one type of a job's transcript.
pub fn insert_transcript(db: &dyn Db, job: i64, kind: &str, content: &str) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO projectw_transcripts (job, kind, content) VALUES (?, ?, ?) \
         ON CONFLICT (job, kind) DO UPDATE SET content = excluded.content",
        &[job.into(), kind.into(), content.into()],
    )?;
    Ok(())
}

/// One type of the transcript of `owner`'s job, marking the job downloaded.
pub fn download(db: &dyn Db, owner: i64, job: i64, kind: &str) -> Result<Option<String>, DbError> {
    let rows = db.execute(
        "SELECT x.content FROM projectw_transcripts x JOIN projectw_jobs j ON j.task = x.job \
         WHERE x.job = ? AND x.kind = ? AND j.owner = ? AND j.downloaded IS NOT NULL",
        &[job.into(), kind.into(), owner.into()],
    )?;
    let Some(content) = rows.map_first(|row| row.text("content"))? else { return Ok(None) };
    db.execute("UPDATE projectw_jobs SET downloaded = 1 WHERE task = ? AND downloaded = 0", &[job.into()])?;
    Ok(Some(content))
}

/// Deletes `owner`'s jobs among `ids` (their audio and transcripts go with them).
pub fn delete_jobs(db: &dyn Db, owner: i64, ids: &[i64]) -> Result<(), DbError> {
    for id in ids {
        db.execute(
            "DELETE FROM projectw_uploads WHERE id = (SELECT upload FROM projectw_jobs WHERE task = ? AND owner = ?)",
            &[(*id).into(), owner.into()],
        )?;
        db.execute("DELETE FROM projectw_jobs WHERE task = ? AND owner = ?", &[(*id).into(), owner.into()])?;
    }
    Ok(())
}

/// Saves settings for `owner`, optionally as their new default; returns the id.
pub fn insert_settings(db: &dyn Db, owner: i64, settings: &str, is_default: bool, now: i64) -> Result<i64, DbError> {
    db::transaction(db, || {
        if is_default {
            db.execute(
                "UPDATE projectw_settings SET is_default = 0 WHERE owner = ? AND is_default = 1",
                &[owner.into()],
            )?;
        }
        let rows = db.execute(
            "INSERT INTO projectw_settings (owner, settings, is_default, created_at) VALUES (?, ?, ?, ?) RETURNING id",
            &[owner.into(), settings.into(), (is_default as i64).into(), now.into()],
        )?;
        rows.map_first(|row| row.int("id"))?.ok_or_else(|| DbError::Other("no id returned".into()))
    })
}

/// Saved settings of `owner`: by id, or their default.
pub fn settings(db: &dyn Db, owner: i64, id: Option<i64>) -> Result<Option<String>, DbError> {
    let rows = match id {
        Some(id) => {
            db.execute("SELECT settings FROM projectw_settings WHERE id = ? AND owner = ?", &[id.into(), owner.into()])?
        }
        None => {
            db.execute("SELECT settings FROM projectw_settings WHERE owner = ? AND is_default = 1", &[owner.into()])?
        }
    };
    rows.map_first(|row| row.text("settings"))
}

/// One row of `projectw_events` (`sql/0006_projectw_events.sql`; written only by its triggers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub job: i64,
    pub kind: String,
}

/// `owner`'s events with ids above `after`, oldest first, at most `limit`.
pub fn events_after(db: &dyn Db, owner: i64, after: i64, limit: i64) -> Result<Vec<EventRow>, DbError> {
    db.execute(
        "SELECT id, job, kind FROM projectw_events WHERE owner = ? AND id > ? ORDER BY id LIMIT ?",
        &[owner.into(), after.into(), limit.into()],
    )?
    .map_all(|row| Ok(EventRow { id: row.int("id")?, job: row.int("job")?, kind: row.text("kind")? }))
}

/// The newest event's id, anyone's (0 before the first).
pub fn newest_event(db: &dyn Db) -> Result<i64, DbError> {
    let rows = db.execute("SELECT COALESCE(MAX(id), 0) AS id FROM projectw_events", &[])?;
    Ok(rows.map_first(|row| row.int("id"))?.unwrap_or(0))
}

/// Deletes up to `limit` events older than `keep_seconds` by the database's clock (the one the triggers
/// stamp them with), never the newest, so ids keep growing; answers how many went.
pub fn prune_events(db: &dyn Db, keep_seconds: i64, limit: i64) -> Result<usize, DbError> {
    let rows = db.execute(
        "DELETE FROM projectw_events WHERE id IN (SELECT id FROM projectw_events \
         WHERE created_at < unixepoch() - ? AND id < (SELECT MAX(id) FROM projectw_events) ORDER BY id LIMIT ?) \
         RETURNING id",
        &[keep_seconds.into(), limit.into()],
    )?;
    Ok(rows.rows.len())
}

/// A site banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BannerRow {
    pub id: i64,
    pub html: String,
    pub urgency: i64,
}

/// Adds a banner; answers its id.
pub fn insert_banner(db: &dyn Db, html: &str, urgency: i64, now: i64) -> Result<i64, DbError> {
    let rows = db.execute(
        "INSERT INTO projectw_banners (html, urgency, created_at) VALUES (?, ?, ?) RETURNING id",
        &[html.into(), urgency.into(), now.into()],
    )?;
    rows.map_first(|row| row.int("id"))?.ok_or_else(|| DbError::Other("no id returned".into()))
}

/// Deletes a banner (an unknown id is no error).
pub fn delete_banner(db: &dyn Db, id: i64) -> Result<(), DbError> {
    db.execute("DELETE FROM projectw_banners WHERE id = ?", &[id.into()])?;
    Ok(())
}

/// Every banner, most urgent first (then oldest first).
pub fn banners(db: &dyn Db) -> Result<Vec<BannerRow>, DbError> {
    db.execute("SELECT id, html, urgency FROM projectw_banners ORDER BY urgency DESC, id", &[])?
        .map_all(|row| Ok(BannerRow { id: row.int("id")?, html: row.text("html")?, urgency: row.int("urgency")? }))
}

/// Queues one `announcement` for every active, verified user; answers how many.
pub fn queue_announcement(db: &dyn Db, subject: &str, body: &str, now: i64) -> Result<usize, DbError> {
    let rows = db.execute(
        "INSERT INTO projectw_mail (recipient, kind, subject, body, created_at) \
         SELECT id, 'announcement', ?, ?, ? FROM users WHERE active = 1 AND verified = 1 ORDER BY id RETURNING id",
        &[subject.into(), body.into(), now.into()],
    )?;
    Ok(rows.rows.len())
}

/// Queued mail with its recipient as they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRow {
    pub id: i64,
    pub kind: String,
    pub job: Option<i64>,
    pub error_msg: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub email: String,
    pub username: String,
    /// The recipient's account is active (mail to a disabled account is dropped).
    pub active: bool,
}

/// Claims up to `limit` queued mails nobody holds (or whose holder's claim ran out) until `until`, oldest
/// first: one statement, so two senders never claim the same mail.
pub fn claim_mail(db: &dyn Db, until: i64, limit: i64, now: i64) -> Result<Vec<MailRow>, DbError> {
    let claimed = db.execute(
        "UPDATE projectw_mail SET claimed_until = ? WHERE id IN (SELECT id FROM projectw_mail \
         WHERE claimed_until IS NULL OR claimed_until <= ? ORDER BY id LIMIT ?) RETURNING id",
        &[until.into(), now.into(), limit.into()],
    )?;
    let ids: Vec<Value> = claimed.iter().map(|row| row.int("id").map(Value::from)).collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; ids.len()].join(", ");
    db.execute(
        &format!(
            "SELECT m.id, m.kind, m.job, m.error_msg, m.subject, m.body, u.email, u.username, u.active \
             FROM projectw_mail m JOIN users u ON u.id = m.recipient WHERE m.id IN ({marks}) ORDER BY m.id"
        ),
        &ids,
    )?
    .map_all(|row| {
        Ok(MailRow {
            id: row.int("id")?,
            kind: row.text("kind")?,
            job: row.opt_int("job")?,
            error_msg: row.opt_text("error_msg")?,
            subject: row.opt_text("subject")?,
            body: row.opt_text("body")?,
            email: row.text("email")?,
            username: row.text("username")?,
            active: row.bool("active")?,
        })
    })
}

/// Removes a mail once it was handed to the hook (or dropped).
pub fn delete_mail(db: &dyn Db, id: i64) -> Result<(), DbError> {
    db.execute("DELETE FROM projectw_mail WHERE id = ?", &[id.into()])?;
    Ok(())
}

/// Deletes up to `limit` jobs that finished before `cutoff` (their audio and transcripts go with them; their
/// tasks stay as queue history); answers their ids.
pub fn delete_finished_before(db: &dyn Db, cutoff: i64, limit: i64) -> Result<Vec<i64>, DbError> {
    // A finished job's audio was freed when it finished; free any that is left all the same.
    db.execute(
        "DELETE FROM projectw_uploads WHERE id IN (SELECT upload FROM projectw_jobs \
         WHERE finished_at IS NOT NULL AND finished_at < ? AND upload IS NOT NULL)",
        &[cutoff.into()],
    )?;
    db.execute(
        "DELETE FROM projectw_jobs WHERE task IN (SELECT task FROM projectw_jobs \
         WHERE finished_at IS NOT NULL AND finished_at < ? ORDER BY finished_at, task LIMIT ?) RETURNING task",
        &[cutoff.into(), limit.into()],
    )?
    .map_all(|row| row.int("task"))
}

/// Deletes mail queued before `before` that nobody holds; answers how many.
pub fn prune_mail(db: &dyn Db, before: i64) -> Result<usize, DbError> {
    let rows = db.execute(
        "DELETE FROM projectw_mail WHERE created_at < ? AND claimed_until IS NULL RETURNING id",
        &[before.into()],
    )?;
    Ok(rows.rows.len())
}
