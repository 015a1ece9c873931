//! Adds the host's request counts to its table in the `default` database, every second and once more at
//! shutdown. Each flush adds (`requests = requests + excluded.requests`), so hosts sharing the database and
//! restarts add up; a flush that fails gives its counts back for the next one.

use super::{RequestMetrics, Row};
use crate::sqlite::{SqliteBackend, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The table, as `conveyor_core::store::metrics::HTTP_TABLE` reads it: one row per component, method, status
/// class and latency bucket (`le`, the bucket's upper bound: requests above the next lower bound and at most
/// this), with the requests and their summed latency in microseconds.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS host_http_requests (\
     component TEXT NOT NULL, method TEXT NOT NULL, status_class TEXT NOT NULL, le TEXT NOT NULL, \
     requests INTEGER NOT NULL, micros INTEGER NOT NULL, \
     PRIMARY KEY (component, method, status_class, le)) WITHOUT ROWID";

/// How often the counts are flushed.
pub const EVERY: Duration = Duration::from_secs(1);

/// Rows per statement: 6 parameters each stays under SQLite's historical limit of 999.
const CHUNK: usize = 150;

/// Creates the table if it is not there.
pub async fn create_table(db: &dyn SqliteBackend) -> anyhow::Result<()> {
    let mut connection = db.connect().map_err(|error| anyhow::anyhow!("{error:?}"))?;
    connection
        .execute(SCHEMA.into(), Vec::new())
        .await
        .map_err(|error| anyhow::anyhow!("creating the request metrics' table: {error:?}"))?;
    Ok(())
}

/// The flushing task.
pub struct Flusher {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Flusher {
    /// Flushes `metrics` into `db` every `every` until stopped.
    pub fn start(metrics: Arc<RequestMetrics>, db: Arc<dyn SqliteBackend>, every: Duration) -> Flusher {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut failing = false;
            loop {
                let last = tokio::select! {
                    biased;
                    _ = stopped.wait_for(|stopped| *stopped) => true,
                    () = tokio::time::sleep(every) => false,
                };
                match flush(&metrics, db.as_ref()).await {
                    Ok(()) if failing => {
                        failing = false;
                        eprintln!("conveyor: request metrics are flushed again");
                    }
                    Ok(()) => {}
                    Err(error) if !failing => {
                        failing = true;
                        eprintln!("conveyor: cannot flush the request metrics (kept for the next try): {error}");
                    }
                    Err(_) => {}
                }
                if last {
                    return;
                }
            }
        });
        Flusher { stop, task }
    }

    /// Flushes once more and stops.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Adds the counts so far to the table in one transaction; on failure they are given back.
pub async fn flush(metrics: &RequestMetrics, db: &dyn SqliteBackend) -> Result<(), String> {
    let taken = metrics.take();
    if taken.is_empty() {
        return Ok(());
    }
    let rows: Vec<Row> = taken.iter().flat_map(|(key, counts)| metrics.rows(key, counts)).collect();
    let written = write(db, &rows).await;
    if written.is_err() {
        metrics.restore(taken);
    }
    written
}

async fn write(db: &dyn SqliteBackend, rows: &[Row]) -> Result<(), String> {
    let mut connection = db.connect().map_err(|error| format!("{error:?}"))?;
    let chunks: Vec<&[Row]> = rows.chunks(CHUNK).collect();
    let many = chunks.len() > 1;
    let mut run = async |sql: String, params: Vec<Value>| {
        connection.execute(sql, params).await.map(drop).map_err(|error| format!("{error:?}"))
    };
    if many {
        run("BEGIN IMMEDIATE".into(), Vec::new()).await?;
    }
    for chunk in chunks {
        let values = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let params = chunk
            .iter()
            .flat_map(|row| {
                [
                    Value::Text(row.component.clone()),
                    Value::Text(row.method.into()),
                    Value::Text(row.class.into()),
                    Value::Text(row.le.into()),
                    Value::Integer(i64::try_from(row.requests).unwrap_or(i64::MAX)),
                    Value::Integer(i64::try_from(row.micros).unwrap_or(i64::MAX)),
                ]
            })
            .collect();
        // A failure inside the transaction leaves it to be rolled back when the connection goes.
        run(
            format!(
                "INSERT INTO host_http_requests (component, method, status_class, le, requests, micros) \
                 VALUES {values} ON CONFLICT (component, method, status_class, le) DO UPDATE SET \
                 requests = requests + excluded.requests, micros = micros + excluded.micros"
            ),
            params,
        )
        .await?;
    }
    if many {
        run("COMMIT".into(), Vec::new()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::SqlitePool;
    use crate::sqlite::local::LocalDatabase;

    fn database(label: &str) -> (Arc<dyn SqliteBackend>, Arc<SqlitePool>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("conveyor-metrics-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pool = SqlitePool::open(&dir.join("db.sqlite"), "").unwrap();
        (Arc::new(LocalDatabase(pool.clone())), pool, dir)
    }

    fn totals(pool: &SqlitePool) -> Vec<(String, String, i64, i64)> {
        pool.read(|c| {
            let mut statement =
                c.prepare("SELECT component, le, requests, micros FROM host_http_requests ORDER BY component, le")?;
            statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect()
        })
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hosts_flushing_into_one_database_add_up() {
        let (db, pool, dir) = database("add");
        create_table(db.as_ref()).await.unwrap();
        create_table(db.as_ref()).await.expect("creating it again is harmless");
        let (one, other) =
            (RequestMetrics::new(vec!["tasks".into()]), RequestMetrics::new(vec!["meta".into(), "tasks".into()]));
        one.record(Some(0), &http::Method::GET, 200, Duration::from_micros(900));
        other.record(Some(1), &http::Method::GET, 200, Duration::from_micros(800));
        other.record(Some(0), &http::Method::GET, 200, Duration::from_micros(700));
        flush(&one, db.as_ref()).await.unwrap();
        flush(&other, db.as_ref()).await.unwrap();
        flush(&other, db.as_ref()).await.expect("nothing new is nothing to do");
        assert_eq!(totals(&pool), [("meta".into(), "0.001".into(), 1, 700), ("tasks".into(), "0.001".into(), 2, 1700)]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_flush_keeps_its_counts_for_the_next_and_many_rows_go_in_one_transaction() {
        let (db, pool, dir) = database("retry");
        let metrics = RequestMetrics::new((0..200).map(|i| format!("c{i}")).collect());
        for component in 0..200 {
            metrics.record(Some(component), &http::Method::POST, 201, Duration::from_millis(2));
        }
        assert!(flush(&metrics, db.as_ref()).await.is_err(), "no table yet");
        create_table(db.as_ref()).await.unwrap();
        flush(&metrics, db.as_ref()).await.unwrap();
        let rows = totals(&pool);
        assert_eq!(rows.len(), 200);
        assert!(rows.iter().all(|(_, le, requests, micros)| le == "0.0025" && *requests == 1 && *micros == 2000));
        let _ = std::fs::remove_dir_all(dir);
    }
}
