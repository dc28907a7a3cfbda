//! `redis`: tokens in Redis, on one server or a Redis Cluster. One hash per token and
//! one index hash per key kind; every write is one Lua script, which the server runs
//! atomically, so key uniqueness and the update rules hold under any concurrency.
//!
//! Keys of one store share a hash tag, `{tokenstore:<name>}`: in a cluster they live in
//! one slot (a script may only touch keys of one slot), and many stores (tenants) spread
//! over the cluster's 16 384 slots by the hash of their names.
//!
//! | key | holds |
//! |---|---|
//! | `{…}:t:<id>` | the token's fields (a hash; an absent field has no entry) |
//! | `{…}:i:<field>` | value → id, for `user_name`, `access_token`, `grant_token`, `refresh_token` |
//! | `{…}:ids` | the ids (a set) |
//! | `{…}:seq` | the last id drawn (`INCR`; never reset, so ids are never reused) |

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, Pipeline, RedisFuture, Script, Value};
use tokenstore_harness::{
    Capabilities, Field, LookupKey, StoreError, Token, TokenStore, insertable, require_id,
};

/// The environment variable naming the server for checks and tests (`redis://…` or
/// `redis+cluster://host:port,host:port,…`).
pub const URL_VAR: &str = "TOKENSTORE_REDIS_URL";

/// The server in [`URL_VAR`], or why there is none.
pub fn url_from_env() -> Result<String, String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Ok(url),
        _ => Err(format!("{URL_VAR} is not set")),
    }
}

/// Where a Redis URL points, without its password: `host:port` or `cluster host:port,…`.
pub fn location_of(url: &str) -> Result<String, StoreError> {
    let (cluster, rest) = match (
        url.strip_prefix("redis+cluster://"),
        url.strip_prefix("redis://"),
    ) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Err(bad_url()),
    };
    let hosts = rest.rsplit_once('@').map_or(rest, |(_, hosts)| hosts);
    let hosts = hosts.split('/').next().unwrap_or_default();
    match (hosts.is_empty(), cluster) {
        (true, _) => Err(bad_url()),
        (false, true) => Ok(format!("cluster {hosts}")),
        (false, false) => Ok(hosts.to_owned()),
    }
}

/// A connection to one server or to a cluster; both reconnect by themselves.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A connection to a Redis server or cluster, on which stores open their key spaces.
#[derive(Clone)]
pub struct RedisServer {
    conn: Conn,
    /// `host:port` (the first node for a cluster), never a password.
    location: String,
    /// Why the server does not keep every acknowledged write, if it does not.
    not_durable: Option<String>,
}

/// A Redis store: the keys under one hash tag. Safe to share between tasks; any number
/// of instances, in any number of processes, may use the same name.
pub struct RedisStore {
    server: RedisServer,
    name: String,
    /// `{tokenstore:<name>}`, the prefix of every key.
    prefix: String,
}

/// Why a URL cannot be used; never repeats it (it may hold a password).
fn bad_url() -> StoreError {
    StoreError::InvalidInput(
        "the Redis URL is not valid (redis://[:password@]host:port[/db] or \
         redis+cluster://[:password@]host:port,host:port,…)"
            .into(),
    )
}

/// A failed command. Redis error texts name commands and scripts, not stored values.
fn backend(what: &str, e: ::redis::RedisError) -> StoreError {
    StoreError::Backend {
        message: format!("redis: {what}: {}", e.category()),
        source: None,
    }
}

impl RedisServer {
    /// Connects to `redis://…` (one server) or `redis+cluster://host:port,…` (a
    /// cluster, any of its nodes), and reads the persistence settings that decide
    /// whether its stores are durable.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let (conn, location) = match url.strip_prefix("redis+cluster://") {
            Some(rest) => {
                let (auth, nodes) = match rest.rsplit_once('@') {
                    Some((auth, nodes)) => (format!("{auth}@"), nodes),
                    None => (String::new(), rest),
                };
                let urls: Vec<String> = nodes
                    .split(',')
                    .map(|node| format!("redis://{auth}{node}"))
                    .collect();
                let first = nodes.split(',').next().unwrap_or_default().to_owned();
                // Few retries, short timeouts: while a node is down a save fails (a
                // typed Backend error) instead of waiting for the node's return.
                let client = ClusterClient::builder(urls)
                    .retries(2)
                    .connection_timeout(Duration::from_secs(1))
                    .response_timeout(Duration::from_secs(2))
                    .build()
                    .map_err(|_| bad_url())?;
                let conn = client
                    .get_async_connection()
                    .await
                    .map_err(|e| backend("connect to the cluster", e))?;
                (Conn::Cluster(conn), format!("cluster {first}"))
            }
            None => {
                let client = ::redis::Client::open(url).map_err(|_| bad_url())?;
                let info = client.get_connection_info();
                let location = match &info.addr {
                    ::redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
                    other => other.to_string(),
                };
                // As for the cluster: while the server is away a call fails soon (a
                // typed Backend error) instead of waiting for the reconnection.
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(2)
                    .set_connection_timeout(Duration::from_secs(1))
                    .set_response_timeout(Duration::from_secs(2));
                let conn = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|e| backend("connect", e))?;
                (Conn::Single(conn), location)
            }
        };
        let mut server = RedisServer {
            conn,
            location,
            not_durable: None,
        };
        server.not_durable = server.durability().await;
        Ok(server)
    }

    /// Where the server is, for reports.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Why acknowledged writes may be lost, from the server's settings: durable only
    /// with an append-only file synced on every write (`appendonly yes`,
    /// `appendfsync always`).
    async fn durability(&self) -> Option<String> {
        let setting = async |name: &str| -> Result<String, ::redis::RedisError> {
            let pair: Vec<String> = ::redis::cmd("CONFIG")
                .arg("GET")
                .arg(name)
                .query_async(&mut self.conn.clone())
                .await?;
            Ok(pair.get(1).cloned().unwrap_or_default())
        };
        let appendonly = setting("appendonly").await;
        let fsync = setting("appendfsync").await;
        match (appendonly.as_deref(), fsync.as_deref()) {
            (Ok("yes"), Ok("always")) => None,
            (Ok("yes"), Ok(other)) => Some(format!(
                "the Redis server syncs its append-only file {} (appendfsync {other}): a crash \
                 loses the last acknowledged writes",
                if other == "everysec" {
                    "once a second"
                } else {
                    "when the system decides"
                }
            )),
            (Ok(_), Ok(_)) => Some(
                "the Redis server keeps no append-only file (appendonly no): a restart loses \
                 acknowledged writes"
                    .to_owned(),
            ),
            _ => Some(
                "the Redis server's persistence settings cannot be read (CONFIG GET)".to_owned(),
            ),
        }
    }

    /// The store named `name` (letters, digits, `_`, `-`, `.`): its keys are
    /// `{tokenstore:<name>}:…`.
    pub fn store(&self, name: &str) -> Result<RedisStore, StoreError> {
        let ok = !name.is_empty()
            && name.len() <= 100
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !ok {
            return Err(StoreError::InvalidInput(
                "a Redis store name is 1 to 100 letters, digits, `_`, `-` or `.`".into(),
            ));
        }
        Ok(RedisStore {
            server: self.clone(),
            name: name.to_owned(),
            prefix: format!("{{tokenstore:{name}}}"),
        })
    }
}

/// The save rule in one atomic step. ARGV: prefix, insertable ("1"/"0"), the token's
/// id ("" if none), the lookup candidates (a count, then field and value pairs), the
/// token's other fields (a count, then pairs). Returns {"ok", id}, {"conflict", field}
/// or {"not-insertable", ""}.
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local p, insertable, id = ARGV[1], ARGV[2] == '1', ARGV[3]
local keys = {user_name = true, access_token = true, grant_token = true, refresh_token = true}
local at = 4
local target = false
if id ~= '' and redis.call('EXISTS', p .. ':t:' .. id) == 1 then target = id end
local candidates = tonumber(ARGV[at]); at = at + 1
for _ = 1, candidates do
  if not target then target = redis.call('HGET', p .. ':i:' .. ARGV[at], ARGV[at + 1]) end
  at = at + 2
end
local count = tonumber(ARGV[at]); at = at + 1
local fields = {}
for n = 1, count do fields[n] = {ARGV[at], ARGV[at + 1]}; at = at + 2 end
if not target and not insertable then return {'not-insertable', ''} end
for _, fv in ipairs(fields) do
  if keys[fv[1]] then
    local holder = redis.call('HGET', p .. ':i:' .. fv[1], fv[2])
    if holder and holder ~= target then return {'conflict', fv[1]} end
  end
end
if not target then
  if id ~= '' then
    target = id
  else
    repeat
      target = tostring(redis.call('INCR', p .. ':seq'))
    until redis.call('EXISTS', p .. ':t:' .. target) == 0
  end
  redis.call('HSET', p .. ':t:' .. target, 'id', target)
  redis.call('SADD', p .. ':ids', target)
end
local row = p .. ':t:' .. target
for _, fv in ipairs(fields) do
  if keys[fv[1]] then
    local old = redis.call('HGET', row, fv[1])
    if old and old ~= fv[2] then redis.call('HDEL', p .. ':i:' .. fv[1], old) end
    redis.call('HSET', p .. ':i:' .. fv[1], fv[2], target)
  end
  redis.call('HSET', row, fv[1], fv[2])
end
return {'ok', target}
"#,
    )
});

/// The first candidate that names a row: its fields, or an empty list.
static FIND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local p = ARGV[1]
for at = 2, #ARGV, 2 do
  local id = redis.call('HGET', p .. ':i:' .. ARGV[at], ARGV[at + 1])
  if id then return redis.call('HGETALL', p .. ':t:' .. id) end
end
return {}
"#,
    )
});

/// Every row's fields.
static ALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local p, rows = ARGV[1], {}
for _, id in ipairs(redis.call('SMEMBERS', p .. ':ids')) do
  rows[#rows + 1] = redis.call('HGETALL', p .. ':t:' .. id)
end
return rows
"#,
    )
});

/// Deletes the row ARGV[2] and its index entries.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local p, id = ARGV[1], ARGV[2]
local row = p .. ':t:' .. id
for _, f in ipairs({'user_name', 'access_token', 'grant_token', 'refresh_token'}) do
  local v = redis.call('HGET', row, f)
  if v and redis.call('HGET', p .. ':i:' .. f, v) == id then redis.call('HDEL', p .. ':i:' .. f, v) end
end
redis.call('DEL', row)
redis.call('SREM', p .. ':ids', id)
return 1
"#,
    )
});

/// Deletes every row and index of this store; keeps the id counter.
static DELETE_ALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local p = ARGV[1]
for _, id in ipairs(redis.call('SMEMBERS', p .. ':ids')) do redis.call('DEL', p .. ':t:' .. id) end
for _, f in ipairs({'user_name', 'access_token', 'grant_token', 'refresh_token'}) do
  redis.call('DEL', p .. ':i:' .. f)
end
redis.call('DEL', p .. ':ids')
return 1
"#,
    )
});

/// A hash's field and value pairs as a token.
fn to_token(pairs: Vec<Vec<u8>>) -> Result<Token, StoreError> {
    let mut token = Token::new();
    for pair in pairs.chunks(2) {
        let [name, value] = pair else { continue };
        let text = |b: &[u8]| {
            String::from_utf8(b.to_vec()).map_err(|_| StoreError::Backend {
                message: "redis: a stored value is not UTF-8 text".into(),
                source: None,
            })
        };
        if let Some(field) = Field::from_name(&text(name)?) {
            token.set(field, Some(&text(value)?));
        }
    }
    Ok(token)
}

impl RedisStore {
    /// Connects to the server in `url` and uses the store `name`.
    pub async fn connect(url: &str, name: &str) -> Result<Self, StoreError> {
        RedisServer::connect(url).await?.store(name)
    }

    /// The store's name (its keys' hash tag).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server the store's connection goes to.
    pub fn server(&self) -> &RedisServer {
        &self.server
    }

    /// Removes every key of this store, the id counter too; for a store made for one
    /// test.
    pub fn drop_keys(
        &self,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        let (mut conn, prefix) = (self.server.conn.clone(), self.prefix.clone());
        async move {
            let _: i64 = DELETE_ALL
                .key(format!("{prefix}:seq"))
                .arg(&prefix)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| backend("drop the keys", e))?;
            let _: i64 = ::redis::cmd("DEL")
                .arg(format!("{prefix}:seq"))
                .query_async(&mut conn)
                .await
                .map_err(|e| backend("drop the keys", e))?;
            Ok(())
        }
    }

    /// Runs a script on this store's slot (its key routes it in a cluster).
    async fn run<T: ::redis::FromRedisValue>(
        &self,
        what: &str,
        script: &Script,
        args: &[&[u8]],
    ) -> Result<T, StoreError> {
        let mut invocation = script.key(format!("{}:seq", self.prefix));
        invocation.arg(&self.prefix);
        for a in args {
            invocation.arg(*a);
        }
        invocation
            .invoke_async(&mut self.server.conn.clone())
            .await
            .map_err(|e| backend(what, e))
    }
}

impl TokenStore for RedisStore {
    fn capabilities(&self) -> Capabilities {
        match &self.server.not_durable {
            None => Capabilities::default().durable(true),
            Some(why) => Capabilities::default().not_durable(why),
        }
    }

    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        let Some(key) = LookupKey::of(probe) else {
            return Ok(None);
        };
        let mut args: Vec<&[u8]> = Vec::new();
        for (field, value) in key.candidates() {
            args.push(field.name().as_bytes());
            args.push(value.as_bytes());
        }
        let pairs: Vec<Vec<u8>> = self.run("look up a token", &FIND, &args).await?;
        match pairs.is_empty() {
            true => Ok(None),
            false => Ok(Some(probe.merged_over(to_token(pairs)?))),
        }
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        self.capabilities().limits.check(token)?;
        let candidates = LookupKey::of(token)
            .map(|k| k.candidates().to_vec())
            .unwrap_or_default();
        let fields: Vec<(Field, &str)> = token.fields().filter(|(f, _)| *f != Field::Id).collect();
        let (counts, insertable) = (
            [candidates.len().to_string(), fields.len().to_string()],
            if insertable(token) { "1" } else { "0" },
        );
        let mut args: Vec<&[u8]> = vec![
            insertable.as_bytes(),
            token.id().unwrap_or_default().as_bytes(),
            counts[0].as_bytes(),
        ];
        for (field, value) in &candidates {
            args.extend([field.name().as_bytes(), value.as_bytes()]);
        }
        args.push(counts[1].as_bytes());
        for (field, value) in &fields {
            args.extend([field.name().as_bytes(), value.as_bytes()]);
        }
        let (status, value): (String, String) = self.run("save a token", &SAVE, &args).await?;
        match status.as_str() {
            "ok" => Ok(value),
            "conflict" => Err(StoreError::Conflict {
                field: Field::from_name(&value).unwrap_or(Field::UserName),
            }),
            _ => Err(StoreError::not_insertable()),
        }
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        let _: i64 = self
            .run("delete a token", &DELETE, &[id.as_bytes()])
            .await?;
        Ok(())
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        let rows: Vec<Vec<Vec<u8>>> = self.run("list tokens", &ALL, &[]).await?;
        rows.into_iter().map(to_token).collect()
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        let _: i64 = self.run("delete all tokens", &DELETE_ALL, &[]).await?;
        Ok(())
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        let pairs: Vec<Vec<u8>> = ::redis::cmd("HGETALL")
            .arg(format!("{}:t:{id}", self.prefix))
            .query_async(&mut self.server.conn.clone())
            .await
            .map_err(|e| backend("look up a token", e))?;
        match pairs.is_empty() {
            true => Ok(None),
            false => to_token(pairs).map(Some),
        }
    }
}
