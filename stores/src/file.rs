//! `file`: the SDK FileStore's CSV file, so that a Rust service and a Python service can
//! share one token file. Every write replaces the file atomically (temporary file,
//! fsync, rename, fsync of the directory) under an advisory lock, so two processes
//! never lose each other's writes and a crash leaves the old file or the new one.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tokenstore_harness::{Capabilities, StoreError, Token, TokenStore, require_id};

use crate::list::{Row, Rows};

/// The SDK FileStore's header, in its column order.
pub const HEADER: [&str; 10] = [
    "id",
    "user_name",
    "client_id",
    "client_secret",
    "refresh_token",
    "access_token",
    "grant_token",
    "expiry_time",
    "redirect_uri",
    "api_domain",
];

/// A token file in the SDK's CSV format. Safe to share between threads; any number of
/// instances and processes may use the same file.
pub struct FileStore {
    path: PathBuf,
    /// `<file>.lock`: locked for every operation; it also keeps the last id given,
    /// so that ids are never reused (the CSV itself has no place for it).
    lock_path: PathBuf,
    /// Serialises this instance's threads before they take the file lock.
    local: Mutex<()>,
    /// None for the reference store; the selftest's mutants have one.
    flaw: Option<Flaw>,
}

/// How a mutant of this store departs from it (`tokenstore mutants`).
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flaw {
    /// Every write truncates the token file and writes it again in place, a line at a
    /// time and unsynced, as the SDK's FileStore does.
    RewritesInPlace,
    /// Locks out its own threads only, not the other instances: no file lock.
    LocksOnlyItsThreads,
}

fn io(what: &str, e: impl Into<tokenstore_harness::BackendSource>) -> StoreError {
    StoreError::backend(format!("file: {what}"), e)
}

/// Opens `path` for reading and writing, creating it with mode 0600 if it is absent.
fn open_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn parse(text: &[u8]) -> Result<Vec<Row>, StoreError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| io("read the CSV", e))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let mut row: Row = Default::default();
        for (slot, value) in row.iter_mut().zip(record.iter()) {
            *slot = (!value.is_empty()).then(|| value.to_owned());
        }
        rows.push(row);
    }
    Ok(rows)
}

fn render(rows: &[Row]) -> Result<Vec<u8>, StoreError> {
    // Python's csv.writer: minimal quoting, CRLF line ends.
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer
        .write_record(HEADER)
        .map_err(|e| io("write the CSV", e))?;
    for row in rows {
        writer
            .write_record(row.iter().map(|v| v.as_deref().unwrap_or("")))
            .map_err(|e| io("write the CSV", e))?;
    }
    writer
        .into_inner()
        .map_err(|e| io("write the CSV", e.into_error()))
}

impl FileStore {
    /// Opens (or creates, readable by its owner only) the token file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut lock_name = path.clone().into_os_string();
        lock_name.push(".lock");
        let store = FileStore {
            lock_path: PathBuf::from(lock_name),
            path,
            local: Mutex::new(()),
            flaw: None,
        };
        store.write(|_| Ok(()))?;
        Ok(store)
    }

    /// A mutant of this store, with its flaw.
    #[cfg(feature = "cli")]
    pub(crate) fn with_flaw(path: &Path, flaw: Flaw) -> Result<Self, StoreError> {
        let mut store = Self::open(path)?;
        store.flaw = Some(flaw);
        Ok(store)
    }

    /// Saves many tokens in one atomic replace of the file, as `save_token` would one by
    /// one: how a store is filled from another (`tokenstore migrate`). All or nothing.
    /// Returns the ids, in the tokens' order.
    pub fn import(&self, tokens: &[Token]) -> Result<Vec<String>, StoreError> {
        self.write(|rows| tokens.iter().map(|token| rows.save(token)).collect())
    }

    /// The token file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn local(&self) -> MutexGuard<'_, ()> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read_rows(&self) -> Result<Vec<Row>, StoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => parse(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io("read the token file", e)),
        }
    }

    /// Runs `read` on the rows under a shared lock.
    fn read<T>(&self, read: impl FnOnce(&Rows) -> T) -> Result<T, StoreError> {
        let _local = self.local();
        let lock = open_private(&self.lock_path).map_err(|e| io("open the lock file", e))?;
        if self.flaw != Some(Flaw::LocksOnlyItsThreads) {
            lock.lock_shared()
                .map_err(|e| io("lock the token file", e))?;
        }
        let rows = Rows {
            rows: self.read_rows()?,
            counter: 0,
        };
        Ok(read(&rows))
    }

    /// Runs `change` on the rows under an exclusive lock and replaces the file with
    /// the result, atomically; the lock file keeps the id counter.
    fn write<T>(
        &self,
        change: impl FnOnce(&mut Rows) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _local = self.local();
        let mut lock = open_private(&self.lock_path).map_err(|e| io("open the lock file", e))?;
        if self.flaw != Some(Flaw::LocksOnlyItsThreads) {
            lock.lock().map_err(|e| io("lock the token file", e))?;
        }
        let mut counter_text = String::new();
        lock.read_to_string(&mut counter_text)
            .map_err(|e| io("read the id counter", e))?;
        let rows = self.read_rows()?;
        // Ids another program wrote (the SDK counts up from the largest) stay taken.
        let largest = rows
            .iter()
            .filter_map(|r| r[0].as_deref()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let mut state = Rows {
            rows,
            counter: counter_text.trim().parse::<u64>().unwrap_or(0).max(largest),
        };
        let before = state.counter;
        let out = change(&mut state)?;
        let bytes = render(&state.rows)?;
        match self.flaw {
            Some(Flaw::RewritesInPlace) => self.rewrite_in_place(&bytes)?,
            _ => self.replace(&bytes)?,
        }
        if state.counter != before {
            lock.set_len(0)
                .and_then(|()| lock.seek(SeekFrom::Start(0)).map(|_| ()))
                .and_then(|()| lock.write_all(state.counter.to_string().as_bytes()))
                .and_then(|()| lock.sync_data())
                .map_err(|e| io("save the id counter", e))?;
        }
        Ok(out)
    }

    /// Writes a temporary file beside the token file, syncs it, renames it over the
    /// token file and syncs the directory: readers and crashes see old or new, whole.
    fn replace(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp_name = self.path.clone().into_os_string();
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp_name);
        let mut file = OpenOptions::new();
        file.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
        let written = file
            .open(&tmp)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .and_then(|()| File::open(dir)?.sync_all());
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(|e| io("replace the token file", e))
    }

    /// What the SDK's FileStore does: truncates the token file, then writes it a line
    /// at a time, unsynced. Readers, under the lock, never see it half written; a
    /// process killed meanwhile leaves it cut short.
    fn rewrite_in_place(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&self.path)
            .map_err(|e| io("open the token file", e))?;
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            file.write_all(line)
                .map_err(|e| io("write the token file", e))?;
        }
        Ok(())
    }
}

impl TokenStore for FileStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default().durable(true).files(true)
    }

    fn files(&self) -> Vec<PathBuf> {
        vec![self.path.clone(), self.lock_path.clone()]
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        self.read(|rows| rows.find(probe))
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        self.write(|rows| rows.save(token))
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        self.write(|rows| {
            rows.delete(id);
            Ok(())
        })
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        self.read(Rows::all)
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        self.write(|rows| {
            rows.rows.clear();
            Ok(())
        })
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        self.read(|rows| rows.by_id(id))
    }
}
