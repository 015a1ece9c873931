//! Shared fixtures for the queue tests: a migrated in-memory database, a key-value store, and shortcuts
//! to create projects, workers, users, groups and tasks.

use crate::connection::NativeDb;
use crate::db::Db;
use crate::domain::project::{Project, ProjectInput};
use crate::domain::task::{ReleaseRequest, Released, Task, TaskSpec};
use crate::domain::worker::WorkerInput;
use crate::platform::MemoryKv;
use crate::query::Scope;
use crate::tasks::{self, ClaimTarget};

/// A fixed "now" for tests.
pub const T0: i64 = 1_700_000_000;

pub struct Fx {
    pub db: NativeDb,
    pub kv: MemoryKv,
}

impl Fx {
    pub fn new() -> Fx {
        Fx { db: NativeDb::memory().unwrap(), kv: MemoryKv::default() }
    }

    /// A project with `name` after `edit` sets any other field.
    pub fn project_with(&self, name: &str, edit: impl FnOnce(&mut ProjectInput)) -> Project {
        let mut input = ProjectInput { name: name.into(), ..ProjectInput::default() };
        edit(&mut input);
        crate::projects::create(&self.db, None, &input, T0).unwrap()
    }

    pub fn project(&self, name: &str) -> Project {
        self.project_with(name, |_| {})
    }

    /// Re-reads a project (fresh counters and settings).
    pub fn reload(&self, project: &Project) -> Project {
        crate::projects::get(&self.db, project.id).unwrap()
    }

    pub fn worker(&self, alias: &str) -> i64 {
        let input = WorkerInput { alias: alias.into(), ..WorkerInput::default() };
        crate::workers::register(&self.db, &input, T0).unwrap().worker.id
    }

    /// A user row (the accounts store is not needed for grants).
    pub fn user(&self, username: &str) -> i64 {
        let rows = self
            .db
            .execute(
                "INSERT INTO users (username, email, created_at) VALUES (?, ?, ?) RETURNING id",
                &[username.into(), format!("{username}@example.org").into(), T0.into()],
            )
            .unwrap();
        rows.first().unwrap().int("id").unwrap()
    }

    /// A group with these members.
    pub fn group(&self, name: &str, members: &[i64], active: bool) -> i64 {
        let rows = self
            .db
            .execute(
                "INSERT INTO user_groups (name, active, created_at) VALUES (?, ?, ?) RETURNING id",
                &[name.into(), active.into(), T0.into()],
            )
            .unwrap();
        let group = rows.first().unwrap().int("id").unwrap();
        for member in members {
            self.db
                .execute(
                    "INSERT INTO group_members (group_id, user_id) VALUES (?, ?)",
                    &[group.into(), (*member).into()],
                )
                .unwrap();
        }
        group
    }

    pub fn spec(recipe: &str) -> TaskSpec {
        TaskSpec { recipe: recipe.into(), ..TaskSpec::default() }
    }

    pub fn submit_spec(&self, project: &Project, spec: TaskSpec) -> Task {
        tasks::submit(&self.db, &self.kv, project, &spec, T0).unwrap()
    }

    pub fn submit(&self, project: &Project, recipe: &str, priority: i64) -> Task {
        self.submit_spec(project, TaskSpec { priority: Some(priority), ..Self::spec(recipe) })
    }

    /// Claims from one project at `now`.
    pub fn claim_in(&self, worker: i64, project: &Project, now: i64) -> Option<Task> {
        tasks::claim(&self.db, &self.kv, worker, ClaimTarget::Project(project), now).unwrap()
    }

    /// Claims across every project at `now`.
    pub fn claim_any(&self, worker: i64, now: i64) -> Option<Task> {
        tasks::claim(&self.db, &self.kv, worker, ClaimTarget::Any(&Scope::default()), now).unwrap()
    }

    pub fn release(
        &self,
        worker: i64,
        task: i64,
        result: i64,
        verification: Option<i64>,
        output: Option<&str>,
    ) -> Released {
        let request = ReleaseRequest { result, verification, output: output.map(String::from) };
        tasks::release(&self.db, worker, task, &request, T0).unwrap()
    }

    pub fn task(&self, id: i64) -> Task {
        tasks::get(&self.db, id).unwrap()
    }

    /// Number of task rows (optionally of one project).
    pub fn count_tasks(&self, project: Option<i64>) -> i64 {
        let rows = self
            .db
            .execute("SELECT COUNT(*) AS n FROM tasks WHERE ?1 IS NULL OR project = ?1", &[project.into()])
            .unwrap();
        rows.first().unwrap().int("n").unwrap()
    }
}
