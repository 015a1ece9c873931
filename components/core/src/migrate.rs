//! Forward-only schema migrations embedded from `sql/`, applied lazily on open and tracked with
//! `PRAGMA user_version`. Two requests racing to migrate serialise on `BEGIN IMMEDIATE` and the loser
//! finds nothing left to do.

use crate::db::{Db, DbError, Value};

/// The migrations in order; migration `i` brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../../sql/0001_init.sql"),
    include_str!("../../../sql/0002_tasks.sql"),
    include_str!("../../../sql/0003_task_triggers.sql"),
    include_str!("../../../sql/0004_schedules.sql"),
    include_str!("../../../sql/0005_projectw.sql"),
    include_str!("../../../sql/0006_projectw_events.sql"),
    include_str!("../../../sql/0007_session_scope.sql"),
    include_str!("../../../sql/0008_metrics.sql"),
    include_str!("../../../sql/0009_log_quota.sql"),
    include_str!("../../../sql/0010_transition_triggers.sql"),
];

/// The schema version this build expects.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

fn current_version(db: &dyn Db) -> Result<i64, DbError> {
    let rows = db.execute("PRAGMA user_version", &[])?;
    Ok(match rows.rows.first().and_then(|r| r.first()) {
        Some(Value::Integer(v)) => *v,
        _ => 0,
    })
}

/// Brings the database to the latest schema version; cheap (one PRAGMA read) when it is already there.
pub fn migrate(db: &dyn Db) -> Result<(), DbError> {
    if current_version(db)? >= latest_version() {
        return Ok(());
    }
    crate::db::transaction(db, || {
        let from = current_version(db)?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
            for statement in split_statements(migration) {
                db.execute(statement, &[])?;
            }
            db.execute(&format!("PRAGMA user_version = {}", index + 1), &[])?;
        }
        Ok(())
    })
}

/// Splits a migration file into statements on `;` at line ends. Migrations keep one statement per
/// `;`-terminated block and no `;` inside string literals at a line end.
fn split_statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(";\n").map(str::trim).filter(|s| !s.is_empty() && !is_comment_only(s))
}

fn is_comment_only(statement: &str) -> bool {
    statement.lines().all(|line| line.trim().is_empty() || line.trim_start().starts_with("--"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::NativeDb;

    #[test]
    fn a_fresh_database_reaches_the_latest_version_and_stays_there() {
        let db = NativeDb::memory().unwrap();
        assert_eq!(current_version(&db).unwrap(), latest_version());
        migrate(&db).unwrap();
        assert_eq!(current_version(&db).unwrap(), latest_version());
    }

    #[test]
    fn racing_openers_both_succeed_on_one_file() {
        let platform = crate::testing::TestPlatform::new("migrate-race");
        let path = platform.path.clone();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || NativeDb::open(&path).map(|db| current_version(&db).unwrap()))
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap().unwrap(), latest_version());
        }
    }

    #[test]
    fn statements_split_on_line_ending_semicolons_and_skip_comments() {
        let parts: Vec<_> =
            split_statements("-- header\nCREATE TABLE a (x);\n\n-- only a comment\n;\nCREATE TABLE b (y);\n").collect();
        assert_eq!(parts, ["-- header\nCREATE TABLE a (x)", "CREATE TABLE b (y)"]);
    }

    #[test]
    fn task_counters_are_backfilled_and_then_kept_by_triggers() {
        let db = NativeDb(rusqlite::Connection::open_in_memory().unwrap());
        for migration in &MIGRATIONS[..2] {
            split_statements(migration).for_each(|statement| drop(db.execute(statement, &[]).unwrap()));
        }
        db.execute("PRAGMA user_version = 2", &[]).unwrap();
        db.execute(
            "INSERT INTO projects (id, name, created_at, updated_at) VALUES (1, 'p', 0, 0), (2, 'q', 0, 0)",
            &[],
        )
        .unwrap();
        let insert = "INSERT INTO tasks (project, status, recipe, created_at, updated_at) VALUES (?, ?, 'r', 0, 0)";
        for (project, status) in [(1, "new"), (1, "new"), (1, "closed"), (1, "cancelled"), (2, "failed")] {
            db.execute(insert, &[Value::Integer(project), status.into()]).unwrap();
        }
        migrate(&db).unwrap();
        let counters = |project: i64| {
            let rows = db
                .execute(
                    "SELECT tasks_new, tasks_assigned, tasks_failed, tasks_closed FROM projects WHERE id = ?",
                    &[project.into()],
                )
                .unwrap();
            rows.rows[0].clone()
        };
        let ints = |values: [i64; 4]| values.map(Value::Integer).to_vec();
        assert_eq!(counters(1), ints([2, 0, 0, 1]), "backfilled");
        assert_eq!(counters(2), ints([0, 0, 1, 0]));

        db.execute("UPDATE tasks SET status = 'assigned' WHERE id = 1", &[]).unwrap();
        db.execute("UPDATE tasks SET project = 2 WHERE id = 2", &[]).unwrap();
        db.execute("UPDATE tasks SET priority = 5 WHERE id = 3", &[]).unwrap();
        db.execute(insert, &[Value::Integer(2), "closed".into()]).unwrap();
        db.execute("DELETE FROM tasks WHERE id = 5", &[]).unwrap();
        assert_eq!(counters(1), ints([0, 1, 0, 1]), "moved, reassigned, untouched by a priority change");
        assert_eq!(counters(2), ints([1, 0, 0, 1]), "gained, inserted, deleted");
        db.execute("UPDATE tasks SET project = 1, status = 'failed' WHERE id = 6", &[]).unwrap();
        assert_eq!((counters(1), counters(2)), (ints([0, 1, 1, 1]), ints([1, 0, 0, 0])), "moved and changed at once");
    }

    #[test]
    fn cancelled_tasks_are_counted_when_the_metrics_arrive() {
        let db = NativeDb(rusqlite::Connection::open_in_memory().unwrap());
        for migration in &MIGRATIONS[..7] {
            split_statements(migration).for_each(|statement| drop(db.execute(statement, &[]).unwrap()));
        }
        db.execute("PRAGMA user_version = 7", &[]).unwrap();
        db.execute("INSERT INTO projects (id, name, created_at, updated_at) VALUES (1, 'p', 0, 0)", &[]).unwrap();
        let insert = "INSERT INTO tasks (project, status, recipe, created_at, updated_at) VALUES (1, ?, 'r', 0, 0)";
        for status in ["new", "cancelled", "cancelled", "closed"] {
            db.execute(insert, &[status.into()]).unwrap();
        }
        migrate(&db).unwrap();
        let rows =
            db.execute("SELECT tasks_new, tasks_closed, tasks_cancelled, counted_submits FROM projects", &[]).unwrap();
        assert_eq!(rows.rows[0], [1, 1, 2, 0].map(Value::Integer).to_vec(), "backfilled; counters start at 0");
    }

    #[test]
    fn sessions_opened_before_session_scopes_keep_their_rights() {
        let db = NativeDb(rusqlite::Connection::open_in_memory().unwrap());
        for migration in &MIGRATIONS[..5] {
            split_statements(migration).for_each(|statement| drop(db.execute(statement, &[]).unwrap()));
        }
        db.execute("PRAGMA user_version = 5", &[]).unwrap();
        db.execute("INSERT INTO users (id, username, email, created_at) VALUES (1, 'ada', 'ada@example.org', 0)", &[])
            .unwrap();
        let insert = "INSERT INTO api_tokens (user_id, kind, name, prefix, secret_hash, created_at) \
                      VALUES (1, ?, 'n', 'p', ?, 0)";
        db.execute(insert, &["session".into(), Value::Blob(vec![1])]).unwrap();
        db.execute(insert, &["api".into(), Value::Blob(vec![2])]).unwrap();
        migrate(&db).unwrap();
        let rows = db.execute("SELECT kind, admin FROM api_tokens ORDER BY id", &[]).unwrap();
        let scopes: Vec<Vec<Value>> = rows.rows.clone();
        assert_eq!(
            scopes,
            vec![vec!["session".into(), Value::Integer(1)], vec!["api".into(), Value::Integer(0)]],
            "a session keeps the account's rights; a named token keeps its scope"
        );
    }
}
