//! `wasi:keyvalue@0.2.0-draft` (store, atomics, batch) on an embedded
//! database: what `serve --kv <file>` and `--kv memory` give a component.
//!
//! wasmtime-wasi-keyvalue 48 implements the same interfaces, but only over an
//! in-memory map that each `open` copies (writes are gone when the bucket
//! is dropped), with one bucket named `""`, and its generated traits are
//! private, so no other backend can sit behind it. The host generates
//! nothing from WIT at compile time, so the interfaces are linked here by
//! hand: each function with `func_wrap_async` and types declared with
//! wasmtime's derives, checked against the component's imports when it is
//! instantiated.
//!
//! The store is a [redb](https://docs.rs/redb) database: a file that
//! survives restarts, or memory. Each bucket is a table of its own; every
//! write is one transaction committed with immediate durability (fsync
//! before the guest gets its answer), so a write a client saw acknowledged
//! survives a killed server, and a killed server leaves the last committed
//! state, never a torn one. redb runs one write transaction at a time, which
//! makes `atomics.increment` (read, add, write in one transaction) lose no
//! update under concurrent requests. Database calls block, so they run on
//! tokio's blocking pool rather than on the thread serving requests.
//!
//! A component may open the bucket `default` and the buckets granted by
//! name (`--kv-bucket`); any other name is `no-such-store`, the error the
//! WIT gives for a name the host does not recognize.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use redb::backends::InMemoryBackend;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition, TableError};
use wasmtime::component::{ComponentType, Lift, Linker, Lower, Resource, ResourceType};

use crate::http::RequestState;

/// The version of `wasi:keyvalue` linked, the one wasmtime 48 implements.
pub const VERSION: &str = "0.2.0-draft";

/// The bucket every component with a store may open.
pub const DEFAULT_BUCKET: &str = "default";

/// Keys one `list-keys` call answers at most; the cursor fetches the rest.
pub const PAGE: usize = 100;

/// What a component's imports say it needs, for the error of a component
/// served without a store.
pub(crate) const KV_HINT: &str = "a component importing wasi:keyvalue needs a store: serve it with \
    `--kv <file>` (kept across restarts) or `--kv memory` (Grants::kv)";

/// `wasi:keyvalue/store.error`.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(variant)]
pub enum KvError {
    /// The host does not recognize the bucket's name.
    #[component(name = "no-such-store")]
    NoSuchStore,
    /// The component may not use the bucket.
    #[component(name = "access-denied")]
    AccessDenied,
    /// The database failed (I/O, a value that is not a counter).
    #[component(name = "other")]
    Other(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::NoSuchStore => write!(f, "no such store"),
            KvError::AccessDenied => write!(f, "access denied"),
            KvError::Other(message) => write!(f, "{message}"),
        }
    }
}

/// `wasi:keyvalue/store.key-response`: one page of keys, and the cursor of
/// the next page (`None` after the last).
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub struct KeyResponse {
    pub keys: Vec<String>,
    pub cursor: Option<u64>,
}

/// A key and its value.
pub type Pair = (String, Vec<u8>);

/// The database behind the buckets: a file or memory. Cheap to clone;
/// clones share the database, so every instance of a component (and every
/// version `dev` swaps in) sees the same data.
#[derive(Clone)]
pub struct KvStore {
    db: Arc<Database>,
    /// The file, or `None` in memory.
    path: Option<PathBuf>,
}

impl fmt::Debug for KvStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KvStore({})", self.describe())
    }
}

fn other(error: impl fmt::Display) -> KvError {
    KvError::Other(error.to_string())
}

impl KvStore {
    /// A store in memory, empty, gone when the last clone is dropped.
    pub fn memory() -> Result<KvStore> {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .context("cannot create an in-memory key-value store")?;
        Ok(KvStore { db: Arc::new(db), path: None })
    }

    /// The store in the database file `path`, created if it does not exist.
    /// A file another process has open is refused (redb locks it).
    pub fn open(path: &Path) -> Result<KvStore> {
        let db = Database::create(path).with_context(|| {
            format!(
                "cannot open the key-value store {}: give `--kv` a file this user may create and write, \
                 that no other server has open",
                path.display()
            )
        })?;
        Ok(KvStore { db: Arc::new(db), path: Some(path.to_path_buf()) })
    }

    /// `--kv`'s argument: `memory`, or a database file.
    pub fn from_arg(arg: &str) -> Result<KvStore> {
        match arg {
            "memory" => KvStore::memory(),
            path => KvStore::open(Path::new(path)),
        }
    }

    /// `memory` or the file's path, for banners and errors.
    pub fn describe(&self) -> String {
        self.path.as_ref().map_or_else(|| "memory".to_string(), |p| p.display().to_string())
    }

    /// The value of `key` in `bucket`.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let read = self.db.begin_read().map_err(other)?;
        let table = match read.open_table(table(bucket)) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(other(e)),
        };
        Ok(table.get(key).map_err(other)?.map(|value| value.value().to_vec()))
    }

    /// Each key with its value, or `None` where it is absent.
    pub fn get_many(&self, bucket: &str, keys: Vec<String>) -> Result<Vec<Option<Pair>>, KvError> {
        keys.into_iter().map(|key| Ok(self.get(bucket, &key)?.map(|value| (key, value)))).collect()
    }

    /// Whether `key` is in `bucket`.
    pub fn exists(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        Ok(self.get(bucket, key)?.is_some())
    }

    /// Sets `key` to `value`, committed to disk before it returns.
    pub fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.set_many(bucket, &[(key.to_string(), value.to_vec())])
    }

    /// Sets every pair, in one transaction.
    pub fn set_many(&self, bucket: &str, pairs: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        self.write(bucket, |table| {
            for (key, value) in pairs {
                table.insert(key.as_str(), value.as_slice())?;
            }
            Ok(())
        })
    }

    /// Deletes `key` (nothing happens if it is absent).
    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), KvError> {
        self.delete_many(bucket, &[key.to_string()])
    }

    /// Deletes every key, in one transaction.
    pub fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<(), KvError> {
        self.write(bucket, |table| {
            for key in keys {
                table.remove(key.as_str())?;
            }
            Ok(())
        })
    }

    /// One page of `bucket`'s keys in order, from position `cursor`, and
    /// the cursor of the next page. The cursor is a position, so keys added
    /// or deleted between pages may shift a page by as many keys (the WIT
    /// allows an out-of-date list).
    pub fn list_keys(&self, bucket: &str, cursor: Option<u64>) -> Result<KeyResponse, KvError> {
        let start = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
        let read = self.db.begin_read().map_err(other)?;
        let table = match read.open_table(table(bucket)) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(KeyResponse { keys: Vec::new(), cursor: None }),
            Err(e) => return Err(other(e)),
        };
        let mut keys = Vec::new();
        let mut more = false;
        for entry in table.iter().map_err(other)?.skip(start) {
            if keys.len() == PAGE {
                more = true;
                break;
            }
            let (key, _) = entry.map_err(other)?;
            keys.push(key.value().to_string());
        }
        let cursor = more.then(|| (start + keys.len()) as u64);
        Ok(KeyResponse { keys, cursor })
    }

    /// Adds `delta` to the counter `key` (absent: 0) and answers the new
    /// value, in one write transaction, so concurrent increments are never
    /// lost. A counter is kept as its decimal digits (what
    /// wasmtime-wasi-keyvalue keeps too); another value is an error.
    pub fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, KvError> {
        let mut new = 0;
        self.write(bucket, |table| {
            let current = match table.get(key)? {
                None => 0,
                Some(value) => match std::str::from_utf8(value.value()).ok().and_then(|s| s.parse::<u64>().ok()) {
                    Some(n) => n,
                    None => return Err(Abort::Kv(KvError::Other(format!("`{key}` holds no counter")))),
                },
            };
            new = current.checked_add(delta).ok_or(Abort::Kv(KvError::Other(format!("`{key}` would overflow"))))?;
            table.insert(key, new.to_string().as_bytes())?;
            Ok(())
        })?;
        Ok(new)
    }

    /// Runs `change` on `bucket`'s table in one write transaction and
    /// commits it (immediate durability: on disk before this returns), or
    /// aborts it if `change` fails.
    fn write(
        &self,
        bucket: &str,
        change: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<(), Abort>,
    ) -> Result<(), KvError> {
        let write = self.db.begin_write().map_err(other)?;
        let outcome = match write.open_table(table(bucket)) {
            Ok(mut table) => change(&mut table),
            Err(e) => Err(Abort::Kv(other(e))),
        };
        match outcome {
            Ok(()) => write.commit().map_err(other),
            Err(abort) => {
                // Dropping an uncommitted transaction aborts it as well.
                let _ = write.abort();
                Err(match abort {
                    Abort::Kv(error) => error,
                    Abort::Storage(error) => other(error),
                })
            }
        }
    }
}

/// Why a write transaction was abandoned.
enum Abort {
    Kv(KvError),
    Storage(redb::StorageError),
}

impl From<redb::StorageError> for Abort {
    fn from(error: redb::StorageError) -> Abort {
        Abort::Storage(error)
    }
}

fn table(bucket: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(bucket)
}

/// What a component's instance holds of the store: the database, when one
/// is granted, and the names it may open besides `default`.
#[derive(Clone, Debug, Default)]
pub(crate) struct KvGrant {
    pub(crate) store: Option<KvStore>,
    pub(crate) buckets: Vec<String>,
}

impl KvGrant {
    fn open(&self, name: &str) -> Result<KvStore, KvError> {
        let store = self.store.as_ref().ok_or(KvError::AccessDenied)?;
        if name == DEFAULT_BUCKET || self.buckets.iter().any(|b| b == name) {
            Ok(store.clone())
        } else {
            Err(KvError::NoSuchStore)
        }
    }
}

/// An open bucket, the guest's `bucket` resource.
pub struct Bucket {
    name: String,
    store: KvStore,
}

/// Runs a blocking database call on tokio's blocking pool.
async fn blocking<R: Send + 'static>(call: impl FnOnce() -> R + Send + 'static) -> wasmtime::Result<R> {
    tokio::task::spawn_blocking(call).await.map_err(|e| wasmtime::format_err!("a key-value call failed: {e}"))
}

/// The bucket behind a guest's handle: its name and store.
fn bucket(state: &RequestState, handle: &Resource<Bucket>) -> wasmtime::Result<(String, KvStore)> {
    let bucket = state.table.get(handle)?;
    Ok((bucket.name.clone(), bucket.store.clone()))
}

/// Links `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft` to the instance's
/// [`KvGrant`].
pub(crate) fn add_to_linker(linker: &mut Linker<RequestState>) -> Result<()> {
    let mut store = linker.instance(&format!("wasi:keyvalue/store@{VERSION}"))?;
    store.resource("bucket", ResourceType::host::<Bucket>(), |mut cx, rep| {
        cx.data_mut().table.delete(Resource::<Bucket>::new_own(rep))?;
        Ok(())
    })?;
    store.func_wrap("open", |mut cx, (name,): (String,)| {
        let state = cx.data_mut();
        let opened = match state.kv.open(&name) {
            Ok(store) => Ok(state.table.push(Bucket { name, store })?),
            Err(error) => Err(error),
        };
        Ok((opened,))
    })?;
    store.func_wrap_async("[method]bucket.get", |cx, (handle, key): (Resource<Bucket>, String)| {
        Box::new(async move {
            let (name, kv) = bucket(cx.data(), &handle)?;
            Ok((blocking(move || kv.get(&name, &key)).await?,))
        })
    })?;
    store.func_wrap_async("[method]bucket.set", |cx, (handle, key, value): (Resource<Bucket>, String, Vec<u8>)| {
        Box::new(async move {
            let (name, kv) = bucket(cx.data(), &handle)?;
            Ok((blocking(move || kv.set(&name, &key, &value)).await?,))
        })
    })?;
    store.func_wrap_async("[method]bucket.delete", |cx, (handle, key): (Resource<Bucket>, String)| {
        Box::new(async move {
            let (name, kv) = bucket(cx.data(), &handle)?;
            Ok((blocking(move || kv.delete(&name, &key)).await?,))
        })
    })?;
    store.func_wrap_async("[method]bucket.exists", |cx, (handle, key): (Resource<Bucket>, String)| {
        Box::new(async move {
            let (name, kv) = bucket(cx.data(), &handle)?;
            Ok((blocking(move || kv.exists(&name, &key)).await?,))
        })
    })?;
    store.func_wrap_async("[method]bucket.list-keys", |cx, (handle, cursor): (Resource<Bucket>, Option<u64>)| {
        Box::new(async move {
            let (name, kv) = bucket(cx.data(), &handle)?;
            Ok((blocking(move || kv.list_keys(&name, cursor)).await?,))
        })
    })?;

    let mut atomics = linker.instance(&format!("wasi:keyvalue/atomics@{VERSION}"))?;
    atomics.func_wrap_async("increment", |cx, (handle, key, delta): (Resource<Bucket>, String, u64)| {
        Box::new(async move {
            let (name, kv) = bucket(cx.data(), &handle)?;
            Ok((blocking(move || kv.increment(&name, &key, delta)).await?,))
        })
    })?;

    let mut batch = linker.instance(&format!("wasi:keyvalue/batch@{VERSION}"))?;
    batch.func_wrap_async("get-many", |cx, (handle, keys): (Resource<Bucket>, Vec<String>)| {
        Box::new(async move {
            let (name, kv) = bucket(cx.data(), &handle)?;
            Ok((blocking(move || kv.get_many(&name, keys)).await?,))
        })
    })?;
    batch.func_wrap_async("set-many", |cx, (handle, pairs): (Resource<Bucket>, Vec<(String, Vec<u8>)>)| {
        Box::new(async move {
            let (name, kv) = bucket(cx.data(), &handle)?;
            Ok((blocking(move || kv.set_many(&name, &pairs)).await?,))
        })
    })?;
    batch.func_wrap_async("delete-many", |cx, (handle, keys): (Resource<Bucket>, Vec<String>)| {
        Box::new(async move {
            let (name, kv) = bucket(cx.data(), &handle)?;
            Ok((blocking(move || kv.delete_many(&name, &keys)).await?,))
        })
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> Vec<(KvStore, tempfile::TempDir)> {
        let dir = tempfile::tempdir().unwrap();
        let file = KvStore::open(&dir.path().join("kv.redb")).unwrap();
        vec![(KvStore::memory().unwrap(), tempfile::tempdir().unwrap()), (file, dir)]
    }

    #[test]
    fn set_get_delete_exists() {
        for (kv, _dir) in both() {
            assert_eq!(kv.get("default", "a"), Ok(None));
            kv.set("default", "a", b"1").unwrap();
            assert_eq!(kv.get("default", "a"), Ok(Some(b"1".to_vec())));
            assert_eq!(kv.get("other", "a"), Ok(None), "buckets are separate");
            assert_eq!(kv.exists("default", "a"), Ok(true));
            kv.delete("default", "a").unwrap();
            kv.delete("default", "a").unwrap();
            assert_eq!(kv.exists("default", "a"), Ok(false));
        }
    }

    #[test]
    fn list_keys_pages_in_order() {
        for (kv, _dir) in both() {
            let pairs: Vec<(String, Vec<u8>)> = (0..PAGE + 5).map(|i| (format!("k{i:04}"), vec![])).collect();
            kv.set_many("default", &pairs).unwrap();
            let first = kv.list_keys("default", None).unwrap();
            assert_eq!((first.keys.len(), first.keys[0].as_str(), first.cursor), (PAGE, "k0000", Some(PAGE as u64)));
            let second = kv.list_keys("default", first.cursor).unwrap();
            assert_eq!((second.keys.len(), second.cursor), (5, None));
            assert_eq!(kv.list_keys("default", Some(u64::MAX)).unwrap().keys.len(), 0);
            assert_eq!(kv.list_keys("empty", None).unwrap(), KeyResponse { keys: vec![], cursor: None });
        }
    }

    #[test]
    fn increment_counts_and_refuses_non_counters() {
        for (kv, _dir) in both() {
            assert_eq!(kv.increment("default", "c", 1), Ok(1));
            assert_eq!(kv.increment("default", "c", 41), Ok(42));
            assert_eq!(kv.get("default", "c"), Ok(Some(b"42".to_vec())));
            kv.set("default", "text", b"x").unwrap();
            assert!(matches!(kv.increment("default", "text", 1), Err(KvError::Other(_))));
            kv.set("default", "max", u64::MAX.to_string().as_bytes()).unwrap();
            assert!(matches!(kv.increment("default", "max", 1), Err(KvError::Other(_))));
            assert_eq!(kv.get("default", "max"), Ok(Some(u64::MAX.to_string().into_bytes())), "aborted, unchanged");
        }
    }

    #[test]
    fn concurrent_increments_lose_nothing() {
        let (kv, _dir) = both().pop().unwrap();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..25 {
                        kv.increment("default", "c", 1).unwrap();
                    }
                });
            }
        });
        assert_eq!(kv.get("default", "c"), Ok(Some(b"200".to_vec())));
    }

    #[test]
    fn a_file_keeps_its_data_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.redb");
        KvStore::open(&path).unwrap().set("default", "k", b"v").unwrap();
        assert_eq!(KvStore::open(&path).unwrap().get("default", "k"), Ok(Some(b"v".to_vec())));
    }

    #[test]
    fn only_default_and_granted_buckets_open() {
        let grant = KvGrant { store: Some(KvStore::memory().unwrap()), buckets: vec!["sessions".into()] };
        assert!(grant.open("default").is_ok());
        assert!(grant.open("sessions").is_ok());
        assert_eq!(grant.open("other").err(), Some(KvError::NoSuchStore));
        assert_eq!(KvGrant::default().open("default").err(), Some(KvError::AccessDenied));
    }
}
