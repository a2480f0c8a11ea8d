//! Creates and updates the RediSearch indexes of models at startup, with zero downtime.
//!
//! Every model's index is built under a versioned name (`{index_name}:{hash}`)
//! and reached through an alias named `index_name`, which queries use. When the
//! schema changes, the new index is built beside the old one; once `FT.INFO`
//! says it finished indexing, the alias moves to it (`FT.ALIASUPDATE`) and the
//! old index is dropped without its documents. Readers never see a missing or
//! half-built index.
//!
//! Like redis-om-python, the SHA-1 of the schema text is stored at
//! `{index_name}:hash` (and the text at `{index_name}:schema`); an index whose
//! stored hash matches is left alone.
//!
//! Several processes may run the migrator at the same moment (a rolling
//! deploy): every step is idempotent, so they converge on one index.
//!
//! An index that redis-om-python created under the plain name `index_name`
//! cannot share that name with an alias: on its first rebuild it is dropped
//! just before the alias is added, a gap of one round trip.

use std::fmt;
use std::time::{Duration, Instant};

use redis::{aio, cmd, ConnectionLike, Value};

use crate::error::{Error, Result};
use crate::exec::{block_on, AsyncExec, Exec, SyncExec};
use crate::model::{bytes_of, Model};
use crate::schema::IndexSchema;

/// What the migrator did (or, in a dry run, would do) for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationAction {
    /// The index did not exist and was created.
    Created {
        /// The versioned index behind the alias.
        index: String,
    },
    /// The index matches the model; nothing was done.
    Unchanged,
    /// The schema changed: a new index was built and the alias moved to it.
    Rebuilt {
        /// The index the alias pointed to before.
        from: String,
        /// The new versioned index.
        to: String,
    },
}

/// The migrator's work for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelMigration {
    /// The model's Rust type.
    pub model: &'static str,
    /// The index name (an alias) that queries use.
    pub index_name: String,
    /// What was done.
    pub action: MigrationAction,
    /// The commands sent (or, in a dry run, planned), one per line.
    pub commands: Vec<String>,
    /// How many documents the server refused to index (`FT.INFO`
    /// `hash_indexing_failures`; `None` in a dry run): they are invisible to
    /// `find`. See [`AsyncModel::index_status`](crate::AsyncModel::index_status).
    pub indexing_failures: Option<u64>,
}

/// What [`Migrator::run`] did, per model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// One entry per model, in the order they were added.
    pub models: Vec<ModelMigration>,
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.models {
            let action = match &m.action {
                MigrationAction::Created { index } => format!("created {index}"),
                MigrationAction::Unchanged => "unchanged".to_owned(),
                MigrationAction::Rebuilt { from, to } => format!("rebuilt {from} -> {to}"),
            };
            write!(f, "{} ({}): {action}", m.model, m.index_name)?;
            match m.indexing_failures {
                Some(n) if n > 0 => writeln!(
                    f,
                    "; {n} documents refused by the index (Model::index_status names the last)"
                )?,
                _ => writeln!(f)?,
            }
            for c in &m.commands {
                writeln!(f, "    {c}")?;
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct ModelIndex {
    model: &'static str,
    index_name: String,
    schema: IndexSchema,
    layout: &'static crate::key::KeyLayout,
}

/// Creates or updates the indexes of the given models; run it at startup.
///
/// ```no_run
/// use redis_om::prelude::*;
/// # #[derive(HashModel)] struct User { pk: Option<String>, #[redis_om(index)] name: String }
/// # #[derive(HashModel)] struct Order { pk: Option<String>, #[redis_om(index)] total: f64 }
/// # async fn run() -> redis_om::Result<()> {
/// # let mut con = redis_om::connect().await?;
/// let report = Migrator::new().model::<User>().model::<Order>().run(&mut con).await?;
/// println!("{report}");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a Migrator does nothing until `run` (or `dry_run`) is called"]
pub struct Migrator {
    models: Vec<ModelIndex>,
    indexing_timeout: Duration,
}

impl Default for Migrator {
    fn default() -> Self {
        Self::new()
    }
}

impl Migrator {
    /// A migrator with no models.
    pub fn new() -> Self {
        Migrator {
            models: Vec::new(),
            indexing_timeout: Duration::from_secs(600),
        }
    }

    /// Adds a model.
    pub fn model<M: Model>(mut self) -> Self {
        self.models.push(ModelIndex {
            model: std::any::type_name::<M>(),
            index_name: M::key_layout().index_name().to_owned(),
            schema: M::index_schema(),
            layout: M::key_layout(),
        });
        self
    }

    /// How long to wait for a new index to finish indexing existing documents
    /// before giving up (default 10 minutes). The old index stays in use meanwhile.
    pub fn indexing_timeout(mut self, timeout: Duration) -> Self {
        self.indexing_timeout = timeout;
        self
    }

    /// Creates missing indexes and rebuilds changed ones.
    ///
    /// # Errors
    /// [`Error::ModuleMissing`] without RediSearch, [`Error::Redis`] for server errors.
    pub async fn run<C: aio::ConnectionLike + Send>(&self, con: &mut C) -> Result<MigrationReport> {
        self.migrate(&mut AsyncExec(con), false).await
    }

    /// [`run`](Self::run) on a blocking connection.
    ///
    /// # Errors
    /// See [`run`](Self::run).
    pub fn run_sync<C: ConnectionLike + Send>(&self, con: &mut C) -> Result<MigrationReport> {
        block_on(self.migrate(&mut SyncExec(con), false))
    }

    /// What [`run`](Self::run) would do, with the commands it would send; changes nothing.
    ///
    /// # Errors
    /// See [`run`](Self::run).
    pub async fn dry_run<C: aio::ConnectionLike + Send>(
        &self,
        con: &mut C,
    ) -> Result<MigrationReport> {
        self.migrate(&mut AsyncExec(con), true).await
    }

    /// [`dry_run`](Self::dry_run) on a blocking connection.
    ///
    /// # Errors
    /// See [`run`](Self::run).
    pub fn dry_run_sync<C: ConnectionLike + Send>(&self, con: &mut C) -> Result<MigrationReport> {
        block_on(self.migrate(&mut SyncExec(con), true))
    }

    /// Refuses a model whose key space holds another model's (see
    /// [`KeyLayout::nested_models`](crate::KeyLayout::nested_models)): among
    /// the models of the program, and among those given here.
    fn check_key_spaces(&self) -> Result<()> {
        for model in &self.models {
            let outer = model.layout.key_prefix();
            let given = self
                .models
                .iter()
                .map(|m| (m.model, m.layout.key_prefix()))
                .filter(|(_, inner)| inner.len() > outer.len() && inner.starts_with(outer));
            let registered = model.layout.nested_models().iter().copied();
            if let Some((inner, inner_prefix)) = given.chain(registered).next() {
                return Err(crate::registry::overlap_error(
                    model.model,
                    outer,
                    inner,
                    inner_prefix,
                ));
            }
        }
        Ok(())
    }

    async fn migrate<E: Exec>(&self, exec: &mut E, dry: bool) -> Result<MigrationReport> {
        self.check_key_spaces()?;
        let mut report = MigrationReport::default();
        for model in &self.models {
            report
                .models
                .push(self.migrate_one(exec, model, dry).await?);
        }
        Ok(report)
    }

    async fn migrate_one<E: Exec>(
        &self,
        exec: &mut E,
        m: &ModelIndex,
        dry: bool,
    ) -> Result<ModelMigration> {
        let hash = m.schema.hash();
        let versioned = format!("{}:{}", m.index_name, &hash[..12]);
        let hash_key = format!("{}:hash", m.index_name);
        let schema_key = format!("{}:schema", m.index_name);

        let stored: Option<String> = match run(exec, &cmd("GET").arg(&hash_key).to_owned()).await? {
            Value::Nil => None,
            v => bytes_of(&v).map(|b| String::from_utf8_lossy(b).into_owned()),
        };
        let current = index_behind(exec, &m.index_name).await?;

        let mut step = Steps {
            exec,
            dry,
            sent: Vec::new(),
        };
        let action = match &current {
            Some(current) if stored.as_deref() == Some(hash.as_str()) || *current == versioned => {
                if stored.as_deref() != Some(hash.as_str()) {
                    step.record_hash(&hash_key, &hash, &schema_key, &m.schema.text())
                        .await?;
                }
                MigrationAction::Unchanged
            }
            _ => {
                step.create(&versioned, &m.schema).await?;
                if !dry {
                    wait_indexed(step.exec, &versioned, self.indexing_timeout).await?;
                }
                match &current {
                    // A plain index (not an alias) holds the name: drop it first.
                    Some(current) if *current == m.index_name => {
                        step.drop_index(current).await?;
                        step.alias(&m.index_name, &versioned).await?;
                    }
                    Some(current) => {
                        step.alias(&m.index_name, &versioned).await?;
                        step.drop_index(current).await?;
                    }
                    None => step.alias(&m.index_name, &versioned).await?,
                }
                step.record_hash(&hash_key, &hash, &schema_key, &m.schema.text())
                    .await?;
                match current {
                    Some(from) => MigrationAction::Rebuilt {
                        from,
                        to: versioned,
                    },
                    None => MigrationAction::Created { index: versioned },
                }
            }
        };
        let indexing_failures = if dry {
            None
        } else {
            let info = run(step.exec, &cmd("FT.INFO").arg(&m.index_name).to_owned()).await?;
            Some(crate::status::parse_info(&m.index_name, &info).indexing_failures)
        };
        Ok(ModelMigration {
            model: m.model,
            index_name: m.index_name.clone(),
            action,
            commands: step.sent,
            indexing_failures,
        })
    }
}

async fn run<E: Exec>(exec: &mut E, c: &redis::Cmd) -> Result<Value> {
    exec.query(c).await.map_err(Error::from_redis)
}

/// The server's message as it sent it: redis-rs splits a reply such as
/// `Unknown Index name` into a "code" and a detail.
use crate::error::is_unknown_index;

/// The real index behind `name` (an alias or an index), or `None` when there is none.
async fn index_behind<E: Exec>(exec: &mut E, name: &str) -> Result<Option<String>> {
    match exec.query(&cmd("FT.INFO").arg(name).to_owned()).await {
        Ok(info) => Ok(Some(
            info_field(&info, "index_name")
                .and_then(bytes_of)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_else(|| name.to_owned()),
        )),
        Err(err) if is_unknown_index(&err) => Ok(None),
        Err(err) => Err(Error::from_redis(err)),
    }
}

/// A field of an `FT.INFO` reply: a flat array (RESP2) or a map (RESP3).
pub(crate) fn info_field<'v>(info: &'v Value, name: &str) -> Option<&'v Value> {
    match info {
        Value::Array(items) => items
            .chunks_exact(2)
            .find(|p| bytes_of(&p[0]) == Some(name.as_bytes()))
            .map(|p| &p[1]),
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| bytes_of(k) == Some(name.as_bytes()))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        other => bytes_of(other).and_then(|b| std::str::from_utf8(b).ok()?.parse().ok()),
    }
}

async fn wait_indexed<E: Exec>(exec: &mut E, index: &str, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let info = run(exec, &cmd("FT.INFO").arg(index).to_owned()).await?;
        let indexing = info_field(&info, "indexing")
            .and_then(as_f64)
            .unwrap_or(0.0);
        let percent = info_field(&info, "percent_indexed")
            .and_then(as_f64)
            .unwrap_or(1.0);
        if indexing == 0.0 && percent >= 1.0 {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(Error::InvalidArgument(format!(
                "index {index} did not finish indexing within {timeout:?} ({:.0}% done); \
                 the previous index stays in use: run the migrator again or raise indexing_timeout",
                percent * 100.0
            )));
        }
        exec.sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// The commands of a migration, sent (or only recorded in a dry run).
struct Steps<'e, E> {
    exec: &'e mut E,
    dry: bool,
    sent: Vec<String>,
}

impl<E: Exec> Steps<'_, E> {
    async fn send(&mut self, c: redis::Cmd, ignore: fn(&redis::RedisError) -> bool) -> Result<()> {
        self.sent.push(describe_cmd(&c));
        if self.dry {
            return Ok(());
        }
        match self.exec.query(&c).await {
            Ok(_) => Ok(()),
            Err(err) if ignore(&err) => Ok(()),
            Err(err) => Err(Error::from_redis(err)),
        }
    }

    async fn create(&mut self, index: &str, schema: &IndexSchema) -> Result<()> {
        let mut c = cmd("FT.CREATE");
        c.arg(index).arg(schema.args());
        // Another process may have created it a moment ago.
        self.send(c, |e| {
            crate::error::server_message(e)
                .to_ascii_lowercase()
                .contains("already exists")
        })
        .await
    }

    async fn alias(&mut self, alias: &str, index: &str) -> Result<()> {
        self.send(
            cmd("FT.ALIASUPDATE").arg(alias).arg(index).to_owned(),
            |_| false,
        )
        .await
    }

    async fn drop_index(&mut self, index: &str) -> Result<()> {
        // Without DD: the documents stay. Another process may have dropped it already.
        self.send(cmd("FT.DROPINDEX").arg(index).to_owned(), is_unknown_index)
            .await
    }

    async fn record_hash(
        &mut self,
        hash_key: &str,
        hash: &str,
        schema_key: &str,
        text: &str,
    ) -> Result<()> {
        self.send(cmd("SET").arg(hash_key).arg(hash).to_owned(), |_| false)
            .await?;
        self.send(cmd("SET").arg(schema_key).arg(text).to_owned(), |_| false)
            .await
    }
}

/// A command as text, arguments with spaces quoted.
fn describe_cmd(c: &redis::Cmd) -> String {
    c.args_iter()
        .map(|arg| {
            let bytes: &[u8] = match arg {
                redis::Arg::Simple(b) => b,
                _ => b"0",
            };
            let s = String::from_utf8_lossy(bytes);
            if s.is_empty() || s.contains(char::is_whitespace) {
                format!("{s:?}")
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
