//! Spin's runtime-config file (`--runtime-config-file`): which backend serves each SQLite database and
//! key-value store label, and where. Only Spin's own `type = "spin"` backend is supported; anything else
//! is an error naming the file and the key. Paths follow Spin: a relative database `path` is resolved
//! against the working directory, a relative key-value `path` against the file's directory, and an entry
//! without `path` is an in-memory database. Label `default` lives in the data directory unless the file
//! says otherwise.

use anyhow::{Context, Result, anyhow};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where one database or store lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    File(PathBuf),
    Memory,
}

/// The location of every SQLite database and key-value store label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stores {
    pub sqlite_databases: BTreeMap<String, Location>,
    pub key_value_stores: BTreeMap<String, Location>,
}

/// The two tables of the file this host reads.
#[derive(Clone, Copy)]
enum Kind {
    SqliteDatabase,
    KeyValueStore,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::SqliteDatabase => "sqlite_database",
            Kind::KeyValueStore => "key_value_store",
        }
    }
}

impl Stores {
    /// Without a runtime-config file: label `default` in `<data-dir>/sqlite_db.db` and
    /// `<data-dir>/sqlite_key_value.db`.
    pub fn defaults(data_dir: &Path) -> Stores {
        let default = |file: &str| BTreeMap::from([("default".to_string(), Location::File(data_dir.join(file)))]);
        Stores { sqlite_databases: default("sqlite_db.db"), key_value_stores: default("sqlite_key_value.db") }
    }

    /// The defaults, overridden and extended by the runtime-config `file`.
    pub fn load(file: &Path, data_dir: &Path) -> Result<Stores> {
        let text = std::fs::read_to_string(file).with_context(|| format!("{}: cannot read", file.display()))?;
        let working_dir = std::env::current_dir().context("no working directory")?;
        Stores::parse(&text, file, data_dir, &working_dir)
    }

    /// Parses the text of the runtime-config `file`; errors name it and the key.
    fn parse(text: &str, file: &Path, data_dir: &Path, working_dir: &Path) -> Result<Stores> {
        let error = |key: &str, message: &str| anyhow!("{}: key `{key}`: {message}", file.display());
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |span| text[..span.start].matches('\n').count() + 1);
            anyhow!("{}: line {line}: {}", file.display(), e.message().trim())
        })?;
        let file_dir = std::path::absolute(file).ok().and_then(|f| f.parent().map(Path::to_path_buf));
        let file_dir = file_dir.unwrap_or_else(|| working_dir.to_path_buf());
        let mut stores = Stores::defaults(data_dir);
        for (key, entries) in &table {
            let (kind, labels, base) = match key.as_str() {
                "sqlite_database" => (Kind::SqliteDatabase, &mut stores.sqlite_databases, working_dir),
                "key_value_store" => (Kind::KeyValueStore, &mut stores.key_value_stores, file_dir.as_path()),
                _ => return Err(error(key, "is not supported by this host")),
            };
            let entries = entries.as_table().ok_or_else(|| error(key, "must be a table of labels"))?;
            for (label, entry) in entries {
                let location = location(kind, label, entry, base).map_err(|(key, message)| error(&key, &message))?;
                labels.insert(label.clone(), location);
            }
        }
        Ok(stores)
    }
}

/// The location one `[<kind>.<label>]` entry names, or the key that is wrong and why.
fn location(kind: Kind, label: &str, entry: &toml::Value, base: &Path) -> Result<Location, (String, String)> {
    let key = format!("{}.{label}", kind.key());
    let entry = entry.as_table().ok_or_else(|| (key.clone(), "must be a table".to_string()))?;
    let string = |field: &str| match entry.get(field) {
        None => Ok(None),
        Some(toml::Value::String(value)) if !value.is_empty() => Ok(Some(value.as_str())),
        Some(_) => Err((format!("{key}.{field}"), "must be a non-empty string".to_string())),
    };
    match string("type")? {
        Some("spin") => {}
        Some(other) => return Err((format!("{key}.type"), format!("backend `{other}` is not supported by this host"))),
        None => return Err((format!("{key}.type"), "is missing".to_string())),
    }
    if let Some(unknown) = entry.keys().find(|field| !["type", "path"].contains(&field.as_str())) {
        return Err((format!("{key}.{unknown}"), "is not supported by this host".to_string()));
    }
    Ok(match string("path")? {
        Some(path) => Location::File(base.join(path)),
        None => Location::Memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Stores> {
        Stores::parse(text, Path::new("/etc/app/runtime.toml"), Path::new("data"), Path::new("/work"))
    }

    #[test]
    fn without_entries_the_defaults_stay() {
        assert_eq!(parse("").unwrap(), Stores::defaults(Path::new("data")));
        assert_eq!(
            Stores::defaults(Path::new("data")).sqlite_databases["default"],
            Location::File(PathBuf::from("data/sqlite_db.db"))
        );
    }

    #[test]
    fn entries_override_and_extend_the_defaults_with_spins_path_resolution() {
        let stores = parse(
            r#"
            [sqlite_database.default]
            type = "spin"
            path = "db/main.db"
            [sqlite_database.scratch]
            type = "spin"
            [key_value_store.cache]
            type = "spin"
            path = "kv.db"
            [key_value_store.absolute]
            type = "spin"
            path = "/var/kv.db"
            "#,
        )
        .unwrap();
        let file = |path: &str| Location::File(PathBuf::from(path));
        assert_eq!(stores.sqlite_databases["default"], file("/work/db/main.db"), "relative to the working dir");
        assert_eq!(stores.sqlite_databases["scratch"], Location::Memory);
        assert_eq!(stores.key_value_stores["default"], file("data/sqlite_key_value.db"));
        assert_eq!(stores.key_value_stores["cache"], file("/etc/app/kv.db"), "relative to the file's dir");
        assert_eq!(stores.key_value_stores["absolute"], file("/var/kv.db"));
    }

    #[test]
    fn a_bare_file_name_resolves_against_an_absolute_directory() {
        let text = "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"";
        let stores = Stores::parse(text, Path::new("runtime.toml"), Path::new("data"), Path::new("/work")).unwrap();
        let expected = std::env::current_dir().unwrap().join("kv.db");
        assert_eq!(stores.key_value_stores["default"], Location::File(expected));
    }

    #[test]
    fn each_bad_file_names_the_file_and_the_key() {
        let cases = [
            ("[sqlite_database.default]\ntype = \"libsql\"", "key `sqlite_database.default.type`: backend `libsql`"),
            ("[key_value_store.cache]\ntype = \"redis\"", "key `key_value_store.cache.type`: backend `redis`"),
            ("[key_value_store.c]\ntype = \"azure_cosmos\"", "key `key_value_store.c.type`: backend `azure_cosmos`"),
            ("[sqlite_database.default]\npath = \"x.db\"", "key `sqlite_database.default.type`: is missing"),
            ("[sqlite_database.default]\ntype = 1", "key `sqlite_database.default.type`: must be"),
            ("[sqlite_database.d]\ntype = \"spin\"\nurl = \"x\"", "key `sqlite_database.d.url`: is not supported"),
            ("[key_value_store.d]\ntype = \"spin\"\npath = 3", "key `key_value_store.d.path`: must be"),
            ("[[config_provider]]\ntype = \"vault\"", "key `config_provider`: is not supported"),
            ("state_dir = \"x\"", "key `state_dir`: is not supported"),
            ("sqlite_database = 1", "key `sqlite_database`: must be a table"),
            ("[sqlite_database]\ndefault = 1", "key `sqlite_database.default`: must be a table"),
            ("[sqlite_database.default]\ntype = = 1", "line 2"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.starts_with("/etc/app/runtime.toml: "), "names the file: {error}");
            assert!(error.contains(expected), "{text:?}: expected `{expected}` in {error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }
}
