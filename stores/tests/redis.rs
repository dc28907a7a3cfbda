//! Redis store checks the scenarios cannot make: the suite on a durable server these
//! tests start (an append-only file synced on every write), where every durability
//! clause must pass; that server killed (kill -9) mid-run and started again, nothing
//! acknowledged lost; isolation of stores by their hash tag; and in a Redis Cluster,
//! the node that owns a store's slot killed and started again.
//!
//! The default server comes from `TOKENSTORE_REDIS_URL`, the cluster from
//! `TOKENSTORE_REDIS_CLUSTER_URL` (and `TOKENSTORE_REDIS_CLUSTER_RESTART_CMD`, which
//! restarts the node on the port it is given); the durable server needs `redis-server`
//! on the PATH. Without them the tests are listed as ignored with the reason, or fail
//! when Redis is required (`TOKENSTORE_REQUIRE=redis`). One trial at a time.

use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use tokenstore_harness::libtest_mimic::{Arguments, Failed, run};
use tokenstore_harness::{RunReport, Status, Suite, runtime};
use tokenstore_stores::redis::{self, RedisServer, RedisStore};
use tokenstore_stores::{redis_factory, scratch_name};

mod common;
use common::*;

const CLUSTER_VAR: &str = "TOKENSTORE_REDIS_CLUSTER_URL";
const CLUSTER_RESTART_VAR: &str = "TOKENSTORE_REDIS_CLUSTER_RESTART_CMD";

fn main() -> ExitCode {
    if let Some(code) = tokenstore_stores::crash_writer::main_if_asked() {
        return code;
    }
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let single: [ServerCheck; 2] = [
        (
            "isolation::other-stores-untouched",
            bystander_untouched,
            None,
        ),
        (
            "isolation::scratch-keys-removed-even-on-failure",
            scratch_keys_removed,
            None,
        ),
    ];
    let durable: [ServerCheck; 2] = [
        ("durable::every-clause-passes", durable_suite, None),
        ("durable::fault::server-killed", server_killed, None),
    ];
    let cluster: [ServerCheck; 1] = [(
        "cluster::fault::slot-owner-killed",
        slot_owner_killed,
        Some(CLUSTER_RESTART_VAR),
    )];
    let redis_server = match which("redis-server") {
        true => Ok("redis-server".to_owned()),
        false => Err("redis-server is not on the PATH".to_owned()),
    };
    let cluster_url = std::env::var(CLUSTER_VAR)
        .ok()
        .filter(|u| !u.is_empty())
        .ok_or(format!("{CLUSTER_VAR} is not set"));
    let mut trials = server_trials("redis", redis::url_from_env(), &single);
    trials.extend(server_trials("redis", redis_server, &durable));
    trials.extend(server_trials("redis", cluster_url, &cluster));
    run(&args, trials).exit_code()
}

fn which(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Redis server these tests start in a temporary directory, with an append-only file
/// synced on every write; killed when dropped.
struct DurableServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl DurableServer {
    fn start() -> Result<Self, Failed> {
        let dir = tempfile::tempdir().map_err(fail)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(fail)?
            .port();
        let child = Self::launch(dir.path(), port)?;
        Ok(DurableServer { dir, port, child })
    }

    fn launch(dir: &std::path::Path, port: u16) -> Result<Child, Failed> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .map_err(fail)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(fail("the durable Redis server did not start"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(child)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// kill -9, then the same server on the same files.
    fn kill_and_restart(&mut self) -> Result<(), Failed> {
        self.child.kill().map_err(fail)?;
        self.child.wait().map_err(fail)?;
        // Down long enough that saves fail rather than wait for the reconnection.
        std::thread::sleep(Duration::from_secs(1));
        self.child = Self::launch(self.dir.path(), self.port)?;
        Ok(())
    }
}

impl Drop for DurableServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn report_on(url: &str, suite: &Suite) -> Result<RunReport, Failed> {
    let writer = std::env::current_exe().ok();
    // The crash writer is this binary; it finds the server in TOKENSTORE_REDIS_URL.
    let factory = redis_factory(url.into(), writer);
    runtime()
        .block_on(suite.run("redis", url, &factory, SETTINGS, |_, _| {}))
        .map_err(fail)
}

/// On a durable server every clause passes, the durability ones included.
fn durable_suite(_: &str) -> Result<(), Failed> {
    let server = DurableServer::start()?;
    let report = report_on(&server.url(), &Suite::embedded())?;
    let failed: Vec<&str> = report.failing().into_iter().collect();
    if !failed.is_empty() {
        return Err(fail(format!("failed: {failed:?}")));
    }
    for clause in [
        "durability.reopen",
        "durability.crash",
        "concurrency.multi-instance",
    ] {
        let status = report
            .clauses
            .iter()
            .find(|c| c.id == clause)
            .map(|c| c.status);
        if status != Some(Status::Pass) {
            return Err(fail(format!("{clause}: {status:?}")));
        }
    }
    Ok(())
}

/// kill -9 of the durable server while a store writes: Backend errors while it is
/// down, and after it is back every acknowledged token is there.
fn server_killed(_: &str) -> Result<(), Failed> {
    let mut server = DurableServer::start()?;
    let url = server.url();
    runtime().block_on(async {
        let store = RedisStore::connect(&url, &scratch_name())
            .await
            .map_err(fail)?;
        let kill = async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            tokio::task::block_in_place(|| server.kill_and_restart())
        };
        let fresh = RedisStore::connect(&url, store.name());
        let (writing, patience) = (Duration::from_secs(3), Duration::from_secs(20));
        let ((), acked, errors) = under_fault(&store, fresh, writing, kill, patience).await?;
        eprintln!(
            "server killed and restarted; {acked} saves acknowledged, {errors} failed with Backend"
        );
        match errors {
            0 => Err(fail(
                "no save failed: the kill did not happen while writing",
            )),
            _ => Ok(()),
        }
    })
}

/// A run on its own stores leaves a store of another name as it was.
fn bystander_untouched(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let name = format!("bystander_{}", std::process::id());
        let bystander = RedisStore::connect(url, &name).await.map_err(fail)?;
        let factory = redis_factory(url.into(), None);
        let outcome = common::bystander_untouched(&bystander, &factory).await;
        bystander.drop_keys().await.map_err(fail)?;
        outcome
    })
}

/// Every key of this process's scratch stores is gone after a run, a failing one too.
fn scratch_keys_removed(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let factory = redis_factory(url.into(), None);
        let client = ::redis::Client::open(url).map_err(fail)?;
        let left = async || {
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .map_err(fail)?;
            let pattern = format!("{{tokenstore:tokenstore_{}_*", std::process::id());
            ::redis::cmd("KEYS")
                .arg(pattern)
                .query_async::<Vec<String>>(&mut conn)
                .await
                .map_err(fail)
        };
        scratch_removed(&factory, left).await
    })
}

/// The cluster node that owns a store's slot is killed (kill -9) while the store
/// writes and started again on its own files (three masters, no replica to promote:
/// the cluster refuses every write until the node is back). Backend errors while it
/// is down; afterwards every acknowledged token is there (each node syncs its
/// append-only file on every write).
fn slot_owner_killed(url: &str) -> Result<(), Failed> {
    let command = std::env::var(CLUSTER_RESTART_VAR).map_err(fail)?;
    runtime().block_on(async {
        let server = RedisServer::connect(url).await.map_err(fail)?;
        let store = server.store(&scratch_name()).map_err(fail)?;
        let port = slot_owner(url, store.name()).await?;
        let restart = run_command(
            Duration::from_millis(700),
            command.replace("{port}", &port.to_string()),
        );
        let fresh = RedisStore::connect(url, store.name());
        let (writing, patience) = (Duration::from_secs(6), Duration::from_secs(30));
        let outcome = under_fault(&store, fresh, writing, restart, patience).await;
        store.drop_keys().await.map_err(fail)?;
        let ((), acked, errors) = outcome?;
        eprintln!(
            "node {port} killed and restarted; {acked} saves acknowledged, {errors} failed with Backend"
        );
        match errors {
            0 => Err(fail("no save failed: the node was not down while writing")),
            _ => Ok(()),
        }
    })
}

/// The port of the master that serves the store's hash tag.
async fn slot_owner(url: &str, name: &str) -> Result<u16, Failed> {
    let first = url
        .trim_start_matches("redis+cluster://")
        .split(',')
        .next()
        .unwrap_or_default();
    let client = ::redis::Client::open(format!("redis://{first}")).map_err(fail)?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(fail)?;
    let slot: i64 = ::redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(format!("{{tokenstore:{name}}}"))
        .query_async(&mut conn)
        .await
        .map_err(fail)?;
    // Each range: [first slot, last slot, [host, port, id, …] of the master, replicas…].
    let ranges: Vec<Vec<::redis::Value>> = ::redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut conn)
        .await
        .map_err(fail)?;
    let int = |v: Option<&::redis::Value>| match v {
        Some(::redis::Value::Int(n)) => Some(*n),
        _ => None,
    };
    ranges
        .iter()
        .find(|r| {
            let (lo, hi) = (int(r.first()), int(r.get(1)));
            lo.zip(hi).is_some_and(|(lo, hi)| (lo..=hi).contains(&slot))
        })
        .and_then(|r| match r.get(2) {
            Some(::redis::Value::Array(master)) => int(master.get(1)),
            _ => None,
        })
        .and_then(|port| u16::try_from(port).ok())
        .ok_or_else(|| fail(format!("no node serves slot {slot}")))
}
