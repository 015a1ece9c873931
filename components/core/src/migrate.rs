//! Forward-only schema migrations embedded from `sql/`, applied lazily on open and tracked with
//! `PRAGMA user_version`. Two requests racing to migrate serialise on `BEGIN IMMEDIATE` and the loser
//! finds nothing left to do.

use crate::db::{Db, DbError, Value};

/// The migrations in order; migration `i` brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&str] =
    &[include_str!("../../../sql/0001_init.sql"), include_str!("../../../sql/0002_tasks.sql")];

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
    use crate::db::NativeDb;

    #[test]
    fn a_fresh_database_reaches_the_latest_version_and_stays_there() {
        let db = NativeDb::memory().unwrap();
        assert_eq!(current_version(&db).unwrap(), latest_version());
        migrate(&db).unwrap();
        assert_eq!(current_version(&db).unwrap(), latest_version());
    }

    #[test]
    fn racing_openers_both_succeed_on_one_file() {
        let dir = std::env::temp_dir().join(format!("conveyor-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("race.db");
        let _ = std::fs::remove_file(&path);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || NativeDb::open(&path).map(|db| current_version(&db).unwrap()))
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap().unwrap(), latest_version());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn statements_split_on_line_ending_semicolons_and_skip_comments() {
        let parts: Vec<_> =
            split_statements("-- header\nCREATE TABLE a (x);\n\n-- only a comment\n;\nCREATE TABLE b (y);\n").collect();
        assert_eq!(parts, ["-- header\nCREATE TABLE a (x)", "CREATE TABLE b (y)"]);
    }
}
