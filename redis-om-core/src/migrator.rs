//! Creates and updates the RediSearch indexes of models at startup, with zero
//! downtime, beside other processes and beside redis-om-python.
//!
//! Every model's index is built under a versioned name (`{index_name}:{hash}`)
//! and reached through an alias named `index_name`, which queries use. When the
//! schema changes, the new index is built beside the old one; once `FT.INFO`
//! says it finished indexing, the alias moves to it (`FT.ALIASUPDATE`) and the
//! old index is dropped without its documents. Readers never see a missing or
//! half-built index.
//!
//! Bookkeeping, all under `{index_name}:` (never writable as a model key):
//! - `hash` and `schema`: the SHA-1 and text of the live schema, as
//!   redis-om-python writes them; the schema text is byte for byte
//!   redis-om-python 1.2's, so neither migrator rebuilds the other's index;
//! - `history`: the hashes of every schema served, oldest first. A process
//!   whose schema was served before and has since been replaced (the old
//!   version in a rolling deploy) leaves the index alone and reports
//!   [`MigrationAction::Superseded`], unless [`Migrator::allow_downgrade`];
//! - `lock`: a lease (`SET NX PX`, renewed while working) that lets one
//!   process at a time change the index; the others wait, then find the work
//!   done. Every step re-reads what the name is (a plain index, or an alias and
//!   the index behind it) before acting, and a name is dropped only when it
//!   is a plain index: `FT.DROPINDEX` on an alias would drop the index behind it.
//!
//! An index under `index_name` that covers other keys (another prefix or
//! storage) is someone else's: the migrator refuses to drop it
//! ([`Error::ForeignIndex`]) unless [`Migrator::replace_foreign`].
//!
//! An index that redis-om-python created under the plain name `index_name`
//! with the same schema is left alone; with another schema it cannot share
//! that name with an alias: on its first rebuild it is dropped just before the
//! alias is added, a gap of one round trip.

use std::fmt;
use std::time::{Duration, Instant};

use redis::{aio, cmd, ConnectionLike, Value};

use crate::error::{Error, Result};
use crate::exec::{block_on, AsyncExec, Exec, SyncExec};
use crate::model::Model;
use crate::schema::IndexSchema;
use crate::storage::bytes_of;

/// What the migrator did (or, in a dry run, would do) for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// The model's schema was served before and a newer one has replaced it
    /// (this process runs an older version): the index was left alone.
    /// [`Migrator::allow_downgrade`] moves back to it deliberately.
    Superseded {
        /// The index that stays live.
        current: String,
    },
    /// (Dry run only; [`run`](Migrator::run) fails with
    /// [`Error::ForeignIndex`].) An index under the model's index name covers
    /// other keys; it would be left alone without [`Migrator::replace_foreign`].
    RefusesForeign {
        /// The index found under the model's index name.
        index: String,
        /// What differs.
        differs: String,
    },
}

/// The migrator's work for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Things worth knowing, such as a foreign index being replaced.
    pub notes: Vec<String>,
}

/// What [`Migrator::run`] did, per model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
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
                MigrationAction::Superseded { current } => {
                    format!("superseded: a newer schema is live in {current}, left alone")
                }
                MigrationAction::RefusesForeign { index, differs } => {
                    format!("refuses to replace foreign index {index} ({differs})")
                }
            };
            write!(f, "{} ({}): {action}", m.model, m.index_name)?;
            match m.indexing_failures {
                Some(n) if n > 0 => writeln!(
                    f,
                    "; {n} documents refused by the index (Model::index_status names the last)"
                )?,
                _ => writeln!(f)?,
            }
            for n in &m.notes {
                writeln!(f, "    note: {n}")?;
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
/// # let mut con = redis_om::connect(redis_om::url()).await?;
/// let report = Migrator::new().model::<User>().model::<Order>().run(&mut con).await?;
/// println!("{report}");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a Migrator does nothing until `run` (or `dry_run`) is called"]
pub struct Migrator {
    models: Vec<ModelIndex>,
    indexing_timeout: Duration,
    allow_downgrade: bool,
    replace_foreign: bool,
    lock_lease: Duration,
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
            allow_downgrade: false,
            replace_foreign: false,
            lock_lease: Duration::from_secs(30),
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

    /// Moves the index back to the model's schema even when that schema was
    /// served before and a newer one has replaced it: a deliberate rollback.
    /// Without it, such a run reports [`MigrationAction::Superseded`] and
    /// leaves the newer index live (what an old process in a rolling deploy
    /// must do). After a rollback, the newer schema counts as superseded in
    /// turn: rolling forward to it again also needs `allow_downgrade`.
    pub fn allow_downgrade(mut self) -> Self {
        self.allow_downgrade = true;
        self
    }

    /// Drops an index found under the model's index name that covers other
    /// keys (another prefix or storage) and builds the model's own. Without
    /// it, [`run`](Self::run) fails with [`Error::ForeignIndex`] and
    /// [`dry_run`](Self::dry_run) reports [`MigrationAction::RefusesForeign`].
    pub fn replace_foreign(mut self) -> Self {
        self.replace_foreign = true;
        self
    }

    /// Creates missing indexes and rebuilds changed ones.
    ///
    /// # Errors
    /// [`Error::ModuleMissing`] without RediSearch, [`Error::ForeignIndex`]
    /// for an index that is not the model's, [`Error::IndexingTimeout`] when
    /// a new index takes longer than [`indexing_timeout`](Self::indexing_timeout),
    /// [`Error::MigrationLock`] when another process holds the migration lock
    /// for longer than that, [`Error::Redis`] for server errors.
    pub async fn run<C: aio::ConnectionLike + Send>(&self, con: &mut C) -> Result<MigrationReport> {
        self.migrate(&mut AsyncExec(con), false).await
    }

    /// [`run`](Self::run) on a blocking connection ([`crate::blocking::Migrator`]).
    pub(crate) fn run_sync<C: ConnectionLike>(&self, con: &mut C) -> Result<MigrationReport> {
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
    pub(crate) fn dry_run_sync<C: ConnectionLike>(&self, con: &mut C) -> Result<MigrationReport> {
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
        let names = Names::new(m);
        // The common case, read without the lock: the live index is ours and recorded.
        let state = State::read(exec, &names).await?;
        let recorded = state.stored.as_deref() == Some(names.hash.as_str());
        if dry {
            return self.plan(exec, m, &names, state, dry, None).await;
        }
        let mut out = if state.is_current(&names) && recorded {
            self.plan(exec, m, &names, state, false, None).await?
        } else {
            let token = uuid::Uuid::now_v7().to_string();
            self.acquire(exec, &names, &token).await?;
            // Under the lock: read again, another process may have done the work.
            let out = match State::read(exec, &names).await {
                Ok(state) => self.plan(exec, m, &names, state, false, Some(&token)).await,
                Err(e) => Err(e),
            };
            let released = release(exec, &names.lock, &token).await;
            if released.is_err() {
                // Not released (the primary holding it failed, a lost
                // reply): the lease may outlive this run under a token no
                // run owns; the next run in this process takes it over at
                // once instead of waiting out the lease.
                remember_orphan(&names.lock, &token);
            }
            crate::query::live_schema::forget(&names.index_name);
            let out = out?;
            released?;
            out
        };
        // Documents the live index refused are invisible to `find`: say so.
        let info = run(exec, &cmd("FT.INFO").arg(&m.index_name).to_owned()).await?;
        out.indexing_failures =
            Some(crate::status::parse_info(&m.index_name, &info).indexing_failures);
        Ok(out)
    }

    /// Decides and acts on `state`: sends the commands (under the lease
    /// `lock`, renewed at each step) or, in a dry run, only records them.
    async fn plan<E: Exec>(
        &self,
        exec: &mut E,
        m: &ModelIndex,
        names: &Names,
        state: State,
        dry: bool,
        lock: Option<&str>,
    ) -> Result<ModelMigration> {
        let mut steps = Steps {
            exec,
            dry,
            sent: Vec::new(),
            lock: lock.map(|token| (names.lock.clone(), token.to_owned(), self.lock_lease)),
        };
        let out = self.decide_and_act(&mut steps, m, names, state).await?;
        Ok(out.with_commands(steps.sent))
    }

    /// Takes the index's migration lease, waiting while another process holds it.
    ///
    /// A `SET NX` whose reply is lost (a timeout while the server is paused,
    /// as in a failover) may have taken the lease all the same, under a
    /// token nobody would own: the lease is then checked by its token and
    /// taken over ([`take_over`]), within this call or, if this call gives
    /// up, by the next run in this process ([`ORPHANED_LEASES`]), so that
    /// nobody waits out a lease that no one holds.
    async fn acquire<E: Exec>(&self, exec: &mut E, names: &Names, token: &str) -> Result<()> {
        let start = Instant::now();
        let limit = self.indexing_timeout + self.lock_lease * 2;
        let mut pause = Duration::from_millis(5);
        // Tokens under which the lease may be held although no run owns it.
        let mut candidates = orphaned_leases(&names.lock);
        let mut first_lost: Option<Instant> = None;
        let mut type_checked = false;
        loop {
            let set = cmd("SET")
                .arg(&names.lock)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(self.lock_lease.as_millis() as u64)
                .to_owned();
            let reply = run(exec, &set).await;
            if reply.is_ok() {
                // Replies come again: only an unbroken run of lost ones counts.
                first_lost = None;
            }
            match reply {
                Ok(Value::Nil) => {
                    // Orphans recorded meanwhile by another run of this process.
                    for orphan in orphaned_leases(&names.lock) {
                        if !candidates.contains(&orphan) {
                            candidates.push(orphan);
                        }
                    }
                    if !type_checked {
                        type_checked = true;
                        // Held: by a lease, or by a key of another type
                        // that would never expire (checked once).
                        let kind = run(exec, &cmd("TYPE").arg(&names.lock).to_owned()).await?;
                        let kind = bytes_of(&kind).unwrap_or_default();
                        if kind != b"string" && kind != b"none" {
                            let kind = String::from_utf8_lossy(kind).into_owned();
                            return Err(wrong_bookkeeping_type(
                                &names.lock,
                                &format!("a {kind}, not a string"),
                            ));
                        }
                    }
                    for orphan in &candidates {
                        if take_over(exec, &names.lock, orphan, token, self.lock_lease).await? {
                            forget_orphan(&names.lock, orphan);
                            return Ok(());
                        }
                    }
                }
                Ok(_) => return Ok(()),
                Err(err) if err.is_timeout() || err.is_connection_error() => {
                    if !candidates.iter().any(|t| t == token) {
                        candidates.push(token.to_owned());
                    }
                    // A failover pauses writes for a few seconds: wait that
                    // out, not a server that is gone.
                    let lost_since = *first_lost.get_or_insert_with(Instant::now);
                    if lost_since.elapsed() > LOST_LEASE_REPLIES_FOR {
                        // Ours perhaps: the next run of this process checks.
                        remember_orphan(&names.lock, token);
                        return Err(err);
                    }
                }
                Err(err) => return Err(err),
            }
            if start.elapsed() > limit {
                return Err(Error::MigrationLock {
                    index: names.index_name.clone(),
                    reason: format!(
                        "another process has held the lock {} for more than {limit:?}; \
                         if no migrator is running, delete that key",
                        names.lock
                    ),
                });
            }
            exec.sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    async fn decide_and_act<E: Exec>(
        &self,
        step: &mut Steps<'_, E>,
        m: &ModelIndex,
        names: &Names,
        state: State,
    ) -> Result<Decided> {
        let hash = &names.hash;
        let mut notes = Vec::new();
        if let Some(current) = &state.current {
            if state.is_current(names) {
                if state.stored.as_deref() != Some(hash.as_str()) {
                    step.record(names, &m.schema, &state).await?;
                }
                return Ok(Decided::new(m, MigrationAction::Unchanged, notes));
            }
            // Someone else's index: other keys under our name.
            if !names.is_ours(&current.name) {
                if let Some(differs) = current.differs_from(&m.schema) {
                    if !self.replace_foreign {
                        if step.dry {
                            return Ok(Decided::new(
                                m,
                                MigrationAction::RefusesForeign {
                                    index: current.name.clone(),
                                    differs,
                                },
                                notes,
                            ));
                        }
                        return Err(Error::ForeignIndex {
                            model: m.model.to_owned(),
                            index: current.name.clone(),
                            differs,
                        });
                    }
                    notes.push(format!(
                        "replaces foreign index {} ({differs}) as replace_foreign() asks",
                        current.name
                    ));
                }
            }
            // An older process in a rolling deploy: never move the alias back.
            if !self.allow_downgrade && state.history.iter().any(|h| h == hash) {
                if let Some(text) = &state.stored_text {
                    let missing = m.schema.missing_from(text);
                    if !missing.is_empty() {
                        notes.push(format!(
                            "the live index lacks or defines otherwise what this process's \
                             queries may use: {}",
                            missing.join(", ")
                        ));
                    }
                }
                return Ok(Decided::new(
                    m,
                    MigrationAction::Superseded {
                        current: current.name.clone(),
                    },
                    notes,
                ));
            }
        }

        step.create(&names.versioned, &m.schema).await?;
        if !step.dry {
            step.wait_indexed(&names.versioned, self.indexing_timeout)
                .await?;
        }
        // Re-read what the name is now, just before changing it.
        let now = if step.dry {
            state.current.clone()
        } else {
            index_behind(step.exec, &names.index_name).await?
        };
        match &now {
            None => step.alias(&names.index_name, &names.versioned).await?,
            Some(cur) if cur.name == names.versioned => {}
            // A plain index (not an alias) holds the name: drop it first.
            Some(cur) if cur.name == names.index_name => {
                step.drop_plain_index(&names.index_name).await?;
                step.alias(&names.index_name, &names.versioned).await?;
            }
            Some(cur) => {
                step.alias(&names.index_name, &names.versioned).await?;
                // By its own name, never through the alias.
                step.drop_index(&cur.name).await?;
            }
        }
        step.record(names, &m.schema, &state).await?;
        // Versioned indexes of runs that stopped before their alias moved
        // (killed, timed out): nobody else builds one while we hold the lease.
        let live = now.as_ref().map(|cur| cur.name.as_str());
        for orphan in list_indexes(step.exec).await? {
            if names.is_ours(&orphan) && orphan != names.versioned && Some(orphan.as_str()) != live
            {
                step.drop_index(&orphan).await?;
            }
        }
        let action = match state.current {
            Some(from) => MigrationAction::Rebuilt {
                from: from.name,
                to: names.versioned.clone(),
            },
            None => MigrationAction::Created {
                index: names.versioned.clone(),
            },
        };
        Ok(Decided::new(m, action, notes))
    }
}

/// The names a migration works with.
struct Names {
    index_name: String,
    hash: String,
    versioned: String,
    hash_key: String,
    schema_key: String,
    history: String,
    lock: String,
}

impl Names {
    fn new(m: &ModelIndex) -> Self {
        let hash = m.schema.hash();
        let n = &m.index_name;
        Names {
            versioned: format!("{n}:{}", &hash[..12]),
            hash,
            hash_key: format!("{n}:hash"),
            schema_key: format!("{n}:schema"),
            history: format!("{n}:history"),
            lock: format!("{n}:lock"),
            index_name: n.clone(),
        }
    }

    /// A versioned index this migrator built for this index name.
    fn is_ours(&self, index: &str) -> bool {
        index
            .strip_prefix(self.index_name.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    }
}

/// The index behind a name, as `FT.INFO` describes it.
#[derive(Debug, Clone)]
struct LiveIndex {
    /// The real index name (not the alias).
    name: String,
    /// `HASH` or `JSON`.
    key_type: Option<String>,
    prefixes: Vec<String>,
}

impl LiveIndex {
    /// What makes the index cover other keys than `schema`, if anything.
    fn differs_from(&self, schema: &IndexSchema) -> Option<String> {
        let storage = match schema.storage() {
            crate::storage::Storage::Hash => "HASH",
            crate::storage::Storage::Json => "JSON",
        };
        let mut differs = Vec::new();
        if let Some(kind) = &self.key_type {
            if !kind.eq_ignore_ascii_case(storage) {
                differs.push(format!(
                    "it indexes {kind} keys, the model is stored as {storage}"
                ));
            }
        }
        if self.prefixes.len() != 1 || self.prefixes[0] != schema.prefix() {
            differs.push(format!(
                "it covers the prefixes {:?}, the model's keys start with {:?}",
                self.prefixes,
                schema.prefix()
            ));
        }
        (!differs.is_empty()).then(|| differs.join("; "))
    }
}

/// What the server holds for a model's index.
struct State {
    current: Option<LiveIndex>,
    stored: Option<String>,
    /// The live schema text (`{index_name}:schema`).
    stored_text: Option<String>,
    history: Vec<String>,
}

impl State {
    async fn read<E: Exec>(exec: &mut E, names: &Names) -> Result<State> {
        let stored = match run(exec, &cmd("GET").arg(&names.hash_key).to_owned()).await? {
            Value::Nil => None,
            v => bytes_of(&v).map(|b| String::from_utf8_lossy(b).into_owned()),
        };
        let stored_text = match run(exec, &cmd("GET").arg(&names.schema_key).to_owned()).await? {
            Value::Nil => None,
            v => bytes_of(&v).map(|b| String::from_utf8_lossy(b).into_owned()),
        };
        let history = match run(
            exec,
            &cmd("LRANGE").arg(&names.history).arg(0).arg(-1).to_owned(),
        )
        .await?
        {
            Value::Array(items) => items
                .iter()
                .filter_map(bytes_of)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
            _ => Vec::new(),
        };
        let current = index_behind(exec, &names.index_name).await?;
        Ok(State {
            current,
            stored,
            stored_text,
            history,
        })
    }

    /// The live index is the model's: ours by name, or one with the model's
    /// schema hash (redis-om-python's plain index included).
    fn is_current(&self, names: &Names) -> bool {
        match &self.current {
            Some(cur) => {
                cur.name == names.versioned || self.stored.as_deref() == Some(names.hash.as_str())
            }
            None => false,
        }
    }
}

/// A decision, before the commands are attached.
struct Decided {
    model: &'static str,
    index_name: String,
    action: MigrationAction,
    notes: Vec<String>,
}

impl Decided {
    fn new(m: &ModelIndex, action: MigrationAction, notes: Vec<String>) -> Self {
        Decided {
            model: m.model,
            index_name: m.index_name.clone(),
            action,
            notes,
        }
    }

    fn with_commands(self, commands: Vec<String>) -> ModelMigration {
        ModelMigration {
            model: self.model,
            index_name: self.index_name,
            action: self.action,
            commands,
            indexing_failures: None,
            notes: self.notes,
        }
    }
}

/// How long [`Migrator::acquire`] goes on while the replies to its `SET NX`
/// are lost (timeouts, a dropped connection) before it gives up.
const LOST_LEASE_REPLIES_FOR: Duration = Duration::from_secs(5);

/// Leases this process may hold without a run owning them: `(lock, token)`
/// of acquisitions whose replies were lost. A later run checks them
/// ([`Migrator::acquire`]).
static ORPHANED_LEASES: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

fn orphaned_leases(lock: &str) -> Vec<String> {
    ORPHANED_LEASES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(l, _)| l == lock)
        .map(|(_, t)| t.clone())
        .collect()
}

fn remember_orphan(lock: &str, token: &str) {
    let mut orphans = ORPHANED_LEASES.lock().unwrap_or_else(|e| e.into_inner());
    // Bounded: an old entry's lease has long expired.
    if orphans.len() >= 256 {
        orphans.remove(0);
    }
    orphans.push((lock.to_owned(), token.to_owned()));
}

fn forget_orphan(lock: &str, token: &str) {
    ORPHANED_LEASES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(l, t)| !(l == lock && t == token));
}

/// Takes the lease over from `orphan` (a token of this process that no run
/// owns), atomically: `true` when the lease was held under it and is now
/// held under `token`.
async fn take_over<E: Exec>(
    exec: &mut E,
    lock: &str,
    orphan: &str,
    token: &str,
    lease: Duration,
) -> Result<bool> {
    let script = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end";
    let reply = run(
        exec,
        &cmd("EVAL")
            .arg(script)
            .arg(1)
            .arg(lock)
            .arg(orphan)
            .arg(token)
            .arg(lease.as_millis() as u64)
            .to_owned(),
    )
    .await?;
    Ok(reply == Value::Int(1))
}

/// Releases the lease if it is still ours.
async fn release<E: Exec>(exec: &mut E, lock: &str, token: &str) -> Result<()> {
    let script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
    run(
        exec,
        &cmd("EVAL")
            .arg(script)
            .arg(1)
            .arg(lock)
            .arg(token)
            .to_owned(),
    )
    .await
    .map(|_| ())
}

async fn run<E: Exec>(exec: &mut E, c: &redis::Cmd) -> Result<Value> {
    exec.query(c).await.map_err(|err| {
        if err.code() == Some("WRONGTYPE") {
            if let Some(key) = key_of(c) {
                return wrong_bookkeeping_type(&key, &crate::error::server_message(&err));
            }
        }
        Error::from_redis(err)
    })
}

/// The key a bookkeeping command names: its first argument (`GET k`,
/// `LRANGE k …`), or the first key of an `EVAL`.
fn key_of(c: &redis::Cmd) -> Option<String> {
    let args: Vec<&[u8]> = c
        .args_iter()
        .filter_map(|a| match a {
            redis::Arg::Simple(bytes) => Some(bytes),
            _ => None,
        })
        .collect();
    let at = if args.first()?.eq_ignore_ascii_case(b"EVAL") {
        3
    } else {
        1
    };
    args.get(at)
        .map(|k| String::from_utf8_lossy(k).into_owned())
}

/// A bookkeeping key (`{index}:hash`, `:schema`, `:history`, `:lock`) of
/// another Redis type than the migrator writes there.
fn wrong_bookkeeping_type(key: &str, found: &str) -> Error {
    Error::Decode {
        key: key.to_owned(),
        field: None,
        reason: format!(
            "this is a bookkeeping key of the migrator, and it holds another Redis type than \
             the migrator writes there ({found}); something else wrote it: delete it \
             (DEL {key}) and run the migrator again"
        ),
    }
}

/// The server's message as it sent it: redis-rs splits a reply such as
/// `Unknown Index name` into a "code" and a detail.
use crate::error::is_unknown_index;

/// The real index behind `name` (an alias or an index), or `None` when there is none.
async fn index_behind<E: Exec>(exec: &mut E, name: &str) -> Result<Option<LiveIndex>> {
    match exec.query(&cmd("FT.INFO").arg(name).to_owned()).await {
        Ok(info) => {
            let info = crate::info::IndexInfo::of(&info);
            Ok(Some(LiveIndex {
                name: info.index_name.unwrap_or_else(|| name.to_owned()),
                key_type: info.key_type,
                prefixes: info.prefixes,
            }))
        }
        Err(err) if is_unknown_index(&err) => Ok(None),
        Err(err) => Err(Error::from_redis(err)),
    }
}

/// The names of every index (`FT._LIST`).
async fn list_indexes<E: Exec>(exec: &mut E) -> Result<Vec<String>> {
    Ok(match run(exec, &cmd("FT._LIST").to_owned()).await? {
        Value::Array(items) | Value::Set(items) => items
            .iter()
            .filter_map(bytes_of)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect(),
        _ => Vec::new(),
    })
}

/// The commands of a migration, sent (or only recorded in a dry run).
struct Steps<'e, E> {
    exec: &'e mut E,
    dry: bool,
    sent: Vec<String>,
    /// The lease held while changing the index: key, token, duration.
    lock: Option<(String, String, Duration)>,
}

impl<E: Exec> Steps<'_, E> {
    /// Renews the lease; fails if another process took it over meanwhile.
    async fn keep_lock(&mut self) -> Result<()> {
        let Some((lock, token, lease)) = &self.lock else {
            return Ok(());
        };
        let script = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                      return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
        let renewed = run(
            self.exec,
            &cmd("EVAL")
                .arg(script)
                .arg(1)
                .arg(lock)
                .arg(token)
                .arg(lease.as_millis() as u64)
                .to_owned(),
        )
        .await?;
        if renewed == Value::Int(1) {
            return Ok(());
        }
        Err(Error::MigrationLock {
            index: lock.trim_end_matches(":lock").to_owned(),
            reason: format!(
                "the lock {lock} expired while this process worked (paused for more than {lease:?}?) \
                 and another process may have changed the index; run the migrator again"
            ),
        })
    }

    async fn wait_indexed(&mut self, index: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let info = run(self.exec, &cmd("FT.INFO").arg(index).to_owned()).await?;
            let info = crate::info::IndexInfo::of(&info);
            let percent = info.percent_indexed;
            if info.built() {
                return Ok(());
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(Error::IndexingTimeout {
                    index: index.to_owned(),
                    percent: percent * 100.0,
                    waited,
                });
            }
            self.keep_lock().await?;
            self.exec.sleep(pause.min(timeout - waited)).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    async fn send(&mut self, c: redis::Cmd, ignore: fn(&redis::RedisError) -> bool) -> Result<()> {
        self.sent.push(describe_cmd(&c));
        if self.dry {
            return Ok(());
        }
        self.keep_lock().await?;
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

    /// Drops the plain index `name` only if the name still is one: if it has
    /// become an alias meanwhile, `FT.DROPINDEX` would drop the index behind it.
    async fn drop_plain_index(&mut self, name: &str) -> Result<()> {
        if !self.dry {
            match index_behind(self.exec, name).await? {
                Some(cur) if cur.name == name => {}
                _ => return Ok(()),
            }
        }
        self.drop_index(name).await
    }

    async fn drop_index(&mut self, index: &str) -> Result<()> {
        // Without DD: the documents stay. Another process may have dropped it already.
        self.send(cmd("FT.DROPINDEX").arg(index).to_owned(), is_unknown_index)
            .await
    }

    /// Records the live schema: its hash and text (as redis-om-python) and
    /// the history of served schemas (the one replaced, then this one).
    async fn record(&mut self, names: &Names, schema: &IndexSchema, state: &State) -> Result<()> {
        self.send(
            cmd("SET").arg(&names.hash_key).arg(&names.hash).to_owned(),
            |_| false,
        )
        .await?;
        self.send(
            cmd("SET")
                .arg(&names.schema_key)
                .arg(schema.text())
                .to_owned(),
            |_| false,
        )
        .await?;
        let mut last = state.history.last().cloned();
        let mut push = Vec::new();
        if let Some(prev) = &state.stored {
            if *prev != names.hash && last.as_deref() != Some(prev.as_str()) {
                push.push(prev.clone());
                last = Some(prev.clone());
            }
        }
        if last.as_deref() != Some(names.hash.as_str()) {
            push.push(names.hash.clone());
        }
        if !push.is_empty() {
            self.send(
                cmd("RPUSH").arg(&names.history).arg(&push).to_owned(),
                |_| false,
            )
            .await?;
            self.send(
                cmd("LTRIM")
                    .arg(&names.history)
                    .arg(-HISTORY_LEN)
                    .arg(-1)
                    .to_owned(),
                |_| false,
            )
            .await?;
        }
        Ok(())
    }
}

/// How many served schemas the history keeps.
const HISTORY_LEN: i64 = 1000;

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
