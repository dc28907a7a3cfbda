//! `adapter`: a store in another language, behind a child process that speaks the
//! tokenstore-adapter/1 protocol (ADAPTERS.md) on its stdin and stdout.
//!
//! Requests carry ids, so several can be in flight; a reader task hands each response
//! to its caller. A child that exits, hangs, writes something that is not a protocol
//! line or answers out of protocol fails the operation with a Backend error that says
//! so — the harness never hangs and never panics on it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokenstore_harness::{Capabilities, ErrorKind, Field, Limits, StoreError, Token, TokenStore};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

/// The protocol's name and version, said in the handshake.
pub const PROTOCOL: &str = "tokenstore-adapter/1";

/// How long one request may take (TOKENSTORE_ADAPTER_TIMEOUT, in seconds, overrides it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the child may take to start and say hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, StoreError>>>>>;

/// A store behind an adapter process. Clones share the process; it is killed when
/// the last clone goes.
#[derive(Clone)]
pub struct AdapterStore {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    caps: Capabilities,
    /// The adapter can run the crash writer (see ADAPTERS.md).
    crash_writer: bool,
    /// The adapter can run the crash server, which forks the crash writers.
    crash_server: bool,
    /// The adapter makes a fresh store on fresh storage when asked (`fresh`), so one
    /// process can serve every check.
    fresh: bool,
    /// The files the current store keeps its tokens in.
    files: Mutex<Vec<PathBuf>>,
    stdin: tokio::sync::Mutex<ChildStdin>,
    pending: Pending,
    /// Why the adapter can no longer answer, once it cannot.
    broken: Arc<Mutex<Option<String>>>,
    next: AtomicU64,
    timeout: Duration,
    _child: Child,
}

fn adapter_error(message: impl Into<String>) -> StoreError {
    StoreError::Backend {
        message: format!("adapter: {}", message.into()),
        source: None,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AdapterStore {
    /// Starts `command` and reads its handshake.
    pub async fn spawn(command: &[String]) -> Result<Self, StoreError> {
        let (program, args) = command
            .split_first()
            .ok_or_else(|| StoreError::InvalidInput("no adapter command".into()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| StoreError::backend(format!("adapter: cannot start {program}"), e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(adapter_error("no pipes to the child"));
        };
        let mut lines = BufReader::new(stdout).lines();
        let hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, lines.next_line())
            .await
            .map_err(|_| adapter_error(format!("no handshake within {HANDSHAKE_TIMEOUT:?}")))?
            .map_err(|e| StoreError::backend("adapter: reading the handshake", e))?
            .ok_or_else(|| adapter_error("the process exited before its handshake"))?;
        let (name, caps, files) = handshake(&hello)?;
        let declared = |flag: &str| {
            serde_json::from_str::<Value>(&hello)
                .map(|h| h["capabilities"][flag] == json!(true))
                .unwrap_or(false)
        };
        let pending: Pending = Arc::default();
        let broken = Arc::new(Mutex::new(None));
        tokio::spawn(read_responses(lines, pending.clone(), broken.clone()));
        let timeout = std::env::var("TOKENSTORE_ADAPTER_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(REQUEST_TIMEOUT, Duration::from_secs);
        Ok(AdapterStore {
            shared: Arc::new(Shared {
                name,
                caps,
                crash_writer: declared("crash_writer"),
                crash_server: declared("crash_server"),
                fresh: declared("fresh"),
                files: Mutex::new(files),
                stdin: tokio::sync::Mutex::new(stdin),
                pending,
                broken,
                next: AtomicU64::new(1),
                timeout,
                _child: child,
            }),
        })
    }

    /// Whether the adapter runs the crash writer when TOKENSTORE_ADAPTER_CRASH_FROM is set.
    pub fn has_crash_writer(&self) -> bool {
        self.shared.crash_writer
    }

    /// Whether the adapter runs the crash server (which forks the crash writers) when
    /// TOKENSTORE_ADAPTER_CRASH_SERVER is set.
    pub fn has_crash_server(&self) -> bool {
        self.shared.crash_server
    }

    /// The store's name, from its handshake.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Whether the adapter makes fresh stores when asked (see [`AdapterStore::fresh`]).
    pub fn makes_fresh_stores(&self) -> bool {
        self.shared.fresh
    }

    /// Drops the adapter's store and makes a new one as if the adapter had been started
    /// with `command` (`fresh`): a fresh store on fresh storage for the next check,
    /// made without the store's own `delete_tokens`.
    pub async fn fresh(&self, command: &[String]) -> Result<(), StoreError> {
        let answer = self
            .call(json!({"op": "fresh", "command": command}))
            .await?;
        *lock(&self.shared.files) = files_of(&answer);
        Ok(())
    }

    async fn call(&self, mut request: Value) -> Result<Value, StoreError> {
        let s = &self.shared;
        if let Some(why) = lock(&s.broken).clone() {
            return Err(adapter_error(why));
        }
        let id = s.next.fetch_add(1, Ordering::Relaxed);
        request["id"] = json!(id);
        let (tx, rx) = oneshot::channel();
        lock(&s.pending).insert(id, tx);
        let mut line = request.to_string();
        line.push('\n');
        let written = {
            let mut stdin = s.stdin.lock().await;
            stdin
                .write_all(line.as_bytes())
                .await
                .and(stdin.flush().await)
        };
        if let Err(e) = written {
            lock(&s.pending).remove(&id);
            return Err(StoreError::backend(
                "adapter: the process does not take requests",
                e,
            ));
        }
        match tokio::time::timeout(s.timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(adapter_error(
                lock(&s.broken)
                    .clone()
                    .unwrap_or_else(|| "the process stopped".into()),
            )),
            Err(_) => {
                lock(&s.pending).remove(&id);
                let why = format!("no answer to request {id} within {:?}", s.timeout);
                *lock(&s.broken) = Some(format!("{why}; the adapter is not used again"));
                Err(adapter_error(why))
            }
        }
    }
}

/// The handshake's name, capabilities and files.
fn handshake(line: &str) -> Result<(String, Capabilities, Vec<PathBuf>), StoreError> {
    let hello: Value = serde_json::from_str(line)
        .map_err(|_| adapter_error("the first line is not a JSON handshake"))?;
    if hello["protocol"] != PROTOCOL {
        return Err(adapter_error(format!(
            "the handshake names protocol {}, not {PROTOCOL}",
            hello["protocol"]
        )));
    }
    if let Some(error) = hello["error"].as_str() {
        return Err(adapter_error(error.to_owned()));
    }
    let caps = &hello["capabilities"];
    let mut limits = Limits::NONE;
    if let Some(map) = caps["limits"].as_object() {
        let declared: Vec<(Field, usize)> = map
            .iter()
            .filter_map(|(k, v)| Some((Field::from_name(k)?, usize::try_from(v.as_u64()?).ok()?)))
            .collect();
        limits = Limits::from_pairs(&declared);
    }
    let files = files_of(caps);
    let capabilities = Capabilities::default()
        .durable(caps["durable"].as_bool().unwrap_or(false))
        .files(!files.is_empty())
        .limits(limits)
        // An adapter that does not say it may be shared between threads may not.
        .thread_safe(caps["thread_safe"].as_bool().unwrap_or(false))
        .typed_errors(caps["errors"].as_str() != Some("untyped"))
        .raw_values(true);
    Ok((
        hello["store"].as_str().unwrap_or("adapter").to_owned(),
        capabilities,
        files,
    ))
}

/// The `files` list of a handshake's capabilities or of a `fresh` answer.
fn files_of(value: &Value) -> Vec<PathBuf> {
    value["files"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Hands each response to its caller; on EOF or a line out of protocol, marks the
/// adapter broken and fails everything in flight.
async fn read_responses(
    mut lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    pending: Pending,
    broken: Arc<Mutex<Option<String>>>,
) {
    let why = loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break "the adapter process exited".to_owned(),
            Err(e) => break format!("reading from the adapter failed: {e}"),
        };
        let Ok(response) = serde_json::from_str::<Value>(&line) else {
            break "the adapter wrote a line that is not JSON to stdout (diagnostics belong on stderr)".to_owned();
        };
        let Some(id) = response["id"].as_u64() else {
            break "the adapter answered without a request id".to_owned();
        };
        let Some(waiter) = lock(&pending).remove(&id) else {
            break format!("the adapter answered request {id}, which is not waiting for an answer");
        };
        let _ = waiter.send(answer(&response));
    };
    *lock(&broken) = Some(why.clone());
    for (_, waiter) in lock(&pending).drain() {
        let _ = waiter.send(Err(adapter_error(why.clone())));
    }
}

fn answer(response: &Value) -> Result<Value, StoreError> {
    if let Some(error) = response.get("error") {
        let message = error["message"].as_str().unwrap_or("").to_owned();
        let field = error["field"].as_str().and_then(Field::from_name);
        let number = |k: &str| {
            error[k]
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0)
        };
        let kind = serde_json::from_value::<ErrorKind>(error["kind"].clone()).ok();
        return Err(match kind {
            Some(ErrorKind::InvalidInput) => StoreError::InvalidInput(message),
            Some(ErrorKind::LimitExceeded) => StoreError::LimitExceeded {
                field: field.unwrap_or(Field::Id),
                limit: number("limit"),
                actual: number("actual"),
            },
            Some(ErrorKind::Conflict) => StoreError::Conflict {
                field: field.unwrap_or(Field::UserName),
            },
            Some(ErrorKind::Refused) => StoreError::Refused(message),
            _ => StoreError::Backend {
                message,
                source: None,
            },
        });
    }
    response
        .get("ok")
        .cloned()
        .ok_or_else(|| adapter_error("a response with neither ok nor error"))
}

/// A token on the wire. A field given as `""` goes as `""`: whether the store keeps,
/// matches or returns it is what `value.empty` checks.
fn to_json(token: &Token) -> Value {
    let map: Map<String, Value> = Field::ALL
        .into_iter()
        .filter_map(|f| token.raw(f).map(|v| (f.name().to_owned(), json!(v))))
        .collect();
    Value::Object(map)
}

fn from_json(value: &Value) -> Result<Option<Token>, StoreError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => {
            let mut t = Token::new();
            for (k, v) in map {
                let field = Field::from_name(k)
                    .ok_or_else(|| adapter_error(format!("unknown field {k:?} in a token")))?;
                match v {
                    Value::String(s) if s.is_empty() => t.mark_handed_back_empty(field),
                    Value::String(s) => t.set(field, Some(s)),
                    Value::Null => {}
                    _ => return Err(adapter_error(format!("field {k} is not text"))),
                }
            }
            Ok(Some(t))
        }
        _ => Err(adapter_error("a token that is not a JSON object")),
    }
}

impl TokenStore for AdapterStore {
    fn capabilities(&self) -> Capabilities {
        self.shared.caps.clone()
    }

    fn files(&self) -> Vec<PathBuf> {
        lock(&self.shared.files).clone()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        from_json(
            &self
                .call(json!({"op": "find_token", "token": to_json(probe)}))
                .await?,
        )
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        match self
            .call(json!({"op": "save_token", "token": to_json(token)}))
            .await?
        {
            Value::String(id) => Ok(id),
            _ => Err(adapter_error(
                "save_token answered something other than the id",
            )),
        }
    }

    // Empty ids go to the adapter too: refusing them is the store's job, and checked.
    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        self.call(json!({"op": "delete_token", "token_id": id}))
            .await
            .map(|_| ())
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        match self.call(json!({"op": "get_tokens"})).await? {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| from_json(v).transpose())
                .collect(),
            _ => Err(adapter_error(
                "get_tokens answered something other than a list",
            )),
        }
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        self.call(json!({"op": "delete_tokens"})).await.map(|_| ())
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        from_json(
            &self
                .call(json!({"op": "find_token_by_id", "token_id": id}))
                .await?,
        )
    }
}
