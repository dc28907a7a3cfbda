//! `durability.*`: what a durable store acknowledged survives a reopen and a kill.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::error::StoreError;
use crate::fixture::{Reopen, SharedStore, Writer};
use crate::report::Failure;
use crate::scenario::{describe, error_text, row_difference};
use crate::store::TokenStore;
use crate::token::{Field, Token};

/// Child processes killed by `durability.crash`.
pub const KILLS: usize = 20;

fn failure(steps: Vec<String>, expected: impl Into<String>, actual: impl Into<String>) -> Failure {
    Failure::new(steps, expected, actual)
}

fn updated_access(n: usize) -> String {
    format!("1000.at-durable-{n}-b")
}

fn token(n: usize) -> Token {
    Token::new()
        .with(Field::UserName, &format!("durable{n}@example.com"))
        .with(Field::RefreshToken, &format!("1000.rt-durable-{n}"))
        .with(Field::AccessToken, &format!("1000.at-durable-{n}"))
        .with(Field::ExpiryTime, &n.to_string())
}

/// Writes inserts, updates and deletes, drops the store, opens it again from the same
/// configuration, and compares every row with what was acknowledged: the saves with
/// the ids they gave back, the updates applied, the deleted rows gone. The store's
/// own listing is not the reference, and a duplicate row counts.
pub async fn reopen(store: SharedStore, reopen: &Reopen) -> Result<(), Failure> {
    let mut steps = vec!["save 20 tokens, update 5, delete 5".to_owned()];
    // The check's tokens, updates included, so that no error shows their secrets.
    let written: Vec<Token> = (0..20)
        .map(token)
        .chain((0..5).map(|n| token(n).with(Field::AccessToken, &updated_access(n))))
        .collect();
    let fail_op = |steps: &Vec<String>, e: StoreError| {
        failure(steps.clone(), "success", error_text(&e, &written))
    };
    let mut acknowledged = Vec::new();
    for n in 0..20 {
        let id = store
            .save_token(&token(n))
            .await
            .map_err(|e| fail_op(&steps, e))?;
        acknowledged.push(token(n).with(Field::Id, &id));
    }
    for (n, row) in acknowledged.iter_mut().enumerate().take(5) {
        let access = updated_access(n);
        let update = Token::new()
            .with(Field::Id, row.id().unwrap_or_default())
            .with(Field::AccessToken, &access);
        store
            .save_token(&update)
            .await
            .map_err(|e| fail_op(&steps, e))?;
        row.set(Field::AccessToken, Some(&access));
    }
    for row in acknowledged.drain(15..) {
        store
            .delete_token(row.id().unwrap_or_default())
            .await
            .map_err(|e| fail_op(&steps, e))?;
    }
    drop(store);
    steps.push("drop the store and open it again".to_owned());
    let again = reopen()
        .await
        .map_err(|e| failure(steps.clone(), "the store opens again", e.to_string()))?;
    steps.push("get_tokens()".to_owned());
    let after = again.get_tokens().await.map_err(|e| fail_op(&steps, e))?;
    same_rows(&acknowledged, &after).map_err(|(e, a)| failure(steps, e, a))
}

/// The same rows, each as often: a duplicate is a difference.
fn same_rows(want: &[Token], got: &[Token]) -> Result<(), (String, String)> {
    let (missing, extra) = row_difference(got, want);
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    let missing: Vec<String> = missing.into_iter().map(describe).collect();
    let extra: Vec<String> = extra.into_iter().map(describe).collect();
    Err((
        format!("the {} acknowledged rows, each once", want.len()),
        format!(
            "{} rows; lost or changed: {missing:?}; unexpected or duplicated: {extra:?}",
            got.len()
        ),
    ))
}

/// The token the crash writer saves as its `k`-th save: user `k / 2`, version `k % 2`,
/// so every user is inserted and then updated.
pub fn crash_token(k: u64) -> Token {
    let (user, version) = (k / 2, k % 2);
    Token::new()
        .with(Field::UserName, &format!("crash{user}@example.com"))
        .with(Field::RefreshToken, &format!("1000.rt-crash-{user}"))
        .with(
            Field::AccessToken,
            &format!("1000.at-crash-{user}-v{version}"),
        )
        .with(Field::ExpiryTime, &k.to_string())
}

/// The crash writer's process body: waits for the harness's go (one line on stdin),
/// then opens the store with `open` and saves `crash_token(k)` for k = from, from + 1,
/// …, printing `ack <k> <id>` after each acknowledged save, until killed. The harness
/// starts the next writer while the current one writes, so that a slow start (an
/// interpreter, a connection) is not paid at every kill; waiting before the store
/// opens keeps two writers from ever writing at once.
pub async fn crash_writer<S, E, Fut>(open: impl FnOnce() -> Fut, from: u64) -> Result<(), String>
where
    S: TokenStore,
    E: std::fmt::Display,
    Fut: std::future::Future<Output = Result<S, E>>,
{
    use std::io::Write;
    let mut go = String::new();
    std::io::stdin()
        .read_line(&mut go)
        .map_err(|e| format!("cannot read the go line: {e}"))?;
    let store = open().await.map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    for k in from.. {
        let id = store
            .save_token(&crash_token(k))
            .await
            .map_err(|e| error_text(&e, &[crash_token(k)]))?;
        writeln!(out, "ack {k} {id}")
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A writer is killed between these two times after its first acknowledged save,
/// spread evenly over the scale between them (log-uniform): a kill soon after a writer
/// opened the store is as likely as a late one, and the 20 kills wait 0.85 s on
/// average in all (1.8 s with the 30–150 ms, uniform, of before), half in each chain.
const KILL_AFTER: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(150));

fn kill_moment(rng: &mut crate::random::TestRng) -> Duration {
    const STEPS: usize = 1 << 20;
    let (low, high) = KILL_AFTER;
    let at = crate::random::below(rng, STEPS) as f64 / STEPS as f64;
    low.mul_f64((high.as_secs_f64() / low.as_secs_f64()).powf(at))
}

/// The first save of each kill's writer: far enough apart that no writer reaches the
/// next one's tokens, so the next writer can be started before this one is killed.
const SAVES_PER_WRITER: u64 = 1_000_000;

/// How many writers start ahead of their turn, so that a slow start (an interpreter
/// importing an SDK) overlaps the writing of those before them.
const STARTED_AHEAD: usize = 3;

/// The kills run in this many chains side by side, each on a fresh store of its own:
/// a kill mostly waits (for its moment, for the disk), so two chains take about half
/// the time of one (SQLite: 1.1 s for twenty kills in one chain; BENCHMARKS.md).
pub const CHAINS: usize = 2;

/// One chain of the crash test: how to start writers on a fresh store's data, and how
/// to open that data again afterwards.
pub struct Chain {
    /// Starts the writers the chain kills.
    pub writer: Writer,
    /// Opens the store on the same data once the last writer is dead.
    pub reopen: Reopen,
}

/// Starts a writer, kills it with SIGKILL at a pseudo-random moment, and collects the
/// saves it acknowledged, 20 times over in all, one writer at a time in each chain;
/// then opens each chain's store and checks that every token acknowledged there is
/// present and intact. The moments follow the run's seed, drawn in order and dealt
/// to the chains in turn; the first failing chain, in order, is reported, so a seed
/// gives the same report.
pub async fn crash(chains: Vec<Chain>, seed: u64) -> Result<(), Failure> {
    let mut rng = crate::random::seeded(seed);
    let moments: Vec<Duration> = (0..KILLS).map(|_| kill_moment(&mut rng)).collect();
    let count = chains.len();
    let running: Vec<_> = chains
        .into_iter()
        .enumerate()
        .map(|(c, chain)| {
            let rounds = (c..KILLS).step_by(count).map(|r| (r, moments[r])).collect();
            tokio::spawn(run_chain(
                chain,
                rounds,
                format!("store {} of {count}", c + 1),
            ))
        })
        .collect();
    // Every chain's writers are killed before the check ends.
    for outcome in crate::runner::join_in_order(running, "run the crash test").await {
        outcome??;
    }
    Ok(())
}

/// One chain: a writer killed at each of `rounds` (its number, its moment), then the
/// store opened and checked against what the writers acknowledged.
async fn run_chain(
    chain: Chain,
    rounds: Vec<(usize, Duration)>,
    name: String,
) -> Result<(), Failure> {
    let mut steps = vec![format!("on a fresh store ({name})")];
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let started = Instant::now();
    let runs = |e: String, steps: &Vec<String>| failure(steps.clone(), "the writer runs", e);
    let froms = rounds.iter().map(|(r, _)| from(*r)).collect();
    let mut writers = Writers::new(&chain.writer, froms)
        .await
        .map_err(|e| runs(e, &steps))?;
    for (done, (round, after)) in rounds.iter().enumerate() {
        let acks = writers.run(*after).await.map_err(|e| runs(e, &steps))?;
        steps.push(format!(
            "writer from save {}, killed after {after:?}: {} saves acknowledged",
            from(*round),
            acks.len()
        ));
        acked.extend(acks);
        if started.elapsed() > Duration::from_secs(1) && done % 5 == 4 {
            tracing::info!(
                "durability.crash, {name}: {} of {} kills, {} saves acknowledged",
                done + 1,
                rounds.len(),
                acked.len()
            );
        }
    }
    drop(writers);
    if acked.is_empty() {
        return Err(failure(
            steps,
            "the writer acknowledges saves before it is killed",
            "no save acknowledged",
        ));
    }
    steps.push("open the store".to_owned());
    let again = (chain.reopen)()
        .await
        .map_err(|e| failure(steps.clone(), "the store opens cleanly", e.to_string()))?;
    let rows = again.get_tokens().await.map_err(|e| {
        let written: Vec<Token> = acked.keys().map(|k| crash_token(*k)).collect();
        failure(
            steps.clone(),
            "get_tokens succeeds",
            error_text(&e, &written),
        )
    })?;
    steps.push(format!(
        "check the {} acknowledged saves among {} rows",
        acked.len(),
        rows.len()
    ));
    check_crash_rows(&rows, &acked).map_err(|(e, a, torn)| {
        let f = failure(steps, e, a);
        // A torn row breaks the atomicity of a save as well.
        match torn {
            true => f.breaking(&["durability.crash", "save.atomic"]),
            false => f,
        }
    })
}

/// The first save of the writer killed at kill number `round`.
fn from(round: usize) -> u64 {
    round as u64 * SAVES_PER_WRITER
}

/// Every row is one of the writer's tokens, whole; for every user, the row is at least
/// as new as the newest acknowledged save (an unacknowledged save may have landed).
/// On a mismatch: (expected, actual, whether a row is torn).
fn check_crash_rows(
    rows: &[Token],
    acked: &BTreeMap<u64, String>,
) -> Result<(), (String, String, bool)> {
    let mut by_user = BTreeMap::new();
    for row in rows {
        let k: Option<u64> = row.get(Field::ExpiryTime).and_then(|e| e.parse().ok());
        match k {
            Some(k) if *row == crash_token(k).with(Field::Id, row.id().unwrap_or_default()) => {
                by_user.insert(k / 2, (k, row.id().unwrap_or_default().to_owned()));
            }
            _ => {
                return Err((
                    "only whole tokens the writer saved".into(),
                    format!("a torn row: {}", describe(row)),
                    true,
                ));
            }
        }
    }
    for (k, id) in acked {
        match by_user.get(&(k / 2)) {
            Some((have, have_id)) if have >= k && have_id == id => {}
            Some((have, have_id)) => {
                return Err((
                    format!("save {k} (id {id}) or a newer one"),
                    format!("save {have} (id {have_id})"),
                    false,
                ));
            }
            None => return Err((format!("save {k} (id {id})"), "lost".into(), false)),
        }
    }
    Ok(())
}

/// The writers of one chain, started as the fixture says, each from its first save.
struct Writers<'a> {
    /// The first saves of the writers not started yet, in their order.
    pending: VecDeque<u64>,
    how: Start<'a>,
}

/// How a chain's writers start.
enum Start<'a> {
    /// A process per writer, started ahead of its turn.
    Spawned {
        writer: &'a (dyn Fn(u64) -> std::process::Command + Send + Sync),
        ready: VecDeque<WriterProcess>,
    },
    /// Forked by a crash server at their turn. An `Option` only to lend the server
    /// to a blocking task.
    Forked(Option<ForkServer>),
}

impl<'a> Writers<'a> {
    /// The writers that will start from `froms`, in that order.
    async fn new(writer: &'a Writer, froms: VecDeque<u64>) -> Result<Self, String> {
        let how = match writer {
            Writer::Command(writer) => Start::Spawned {
                writer: writer.as_ref(),
                ready: VecDeque::new(),
            },
            Writer::ForkServer(server) => {
                let command = server();
                let server = tokio::task::spawn_blocking(move || ForkServer::start(command))
                    .await
                    .map_err(|e| e.to_string())??;
                Start::Forked(Some(server))
            }
        };
        Ok(Writers {
            pending: froms,
            how,
        })
    }

    /// Runs the next writer until `after` past its first output, kills it with
    /// SIGKILL, and returns the saves it acknowledged.
    async fn run(&mut self, after: Duration) -> Result<BTreeMap<u64, String>, String> {
        let pending = &mut self.pending;
        match &mut self.how {
            Start::Spawned { writer, ready } => {
                // Writers start ahead of their turn; each waits for its go.
                while ready.len() <= STARTED_AHEAD
                    && let Some(next) = pending.pop_front()
                {
                    ready.push_back(WriterProcess::start(writer(next))?);
                }
                let current = ready.pop_front().ok_or("no writer was started")?;
                current.go()?;
                tokio::task::spawn_blocking(move || current.kill_after(after))
                    .await
                    .map_err(|e| e.to_string())?
            }
            Start::Forked(slot) => {
                let from = pending.pop_front().ok_or("no writer is left to fork")?;
                let mut server = slot.take().ok_or("the crash server was lost")?;
                let (server, acks) = tokio::task::spawn_blocking(move || {
                    let acks = server.run(from, after);
                    (server, acks)
                })
                .await
                .map_err(|e| e.to_string())?;
                *slot = Some(server);
                acks
            }
        }
    }
}

/// How long a writer may take to print its first line before it is killed all the
/// same, and a crash server to answer a request.
const WRITER_WAIT: Duration = Duration::from_secs(30);

/// A crash server (ADAPTERS.md): it says `ready` once it has loaded the store's code,
/// answers `fork <n>` with `pid <p>` (the forked writer prints its acks on the same
/// stdout) and `kill <p>` with `exited <p> killed` (or how the writer ended, if it
/// ended on its own), after which nothing more of that writer can come.
struct ForkServer {
    child: std::process::Child,
    /// Closed first when the server is dropped: the server then kills its writer.
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl ForkServer {
    fn start(mut command: std::process::Command) -> Result<ForkServer, String> {
        let (child, stdin, lines) = spawn_with_lines(&mut command)?;
        let mut server = ForkServer {
            child,
            stdin: Some(stdin),
            lines,
        };
        server.read_until(&mut BTreeMap::new(), |line| (line == "ready").then_some(()))?;
        Ok(server)
    }

    fn say(&mut self, request: &str) -> Result<(), String> {
        use std::io::Write;
        let stdin = self.stdin.as_mut().ok_or("the crash server has no stdin")?;
        writeln!(stdin, "{request}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot reach the crash server: {e}"))
    }

    /// Reads lines until `want` takes one, recording the acks read on the way.
    fn read_until<T>(
        &mut self,
        acks: &mut BTreeMap<u64, String>,
        want: impl Fn(&str) -> Option<T>,
    ) -> Result<T, String> {
        loop {
            let line = self.lines.recv_timeout(WRITER_WAIT).map_err(|_| {
                format!("the crash server did not answer within {WRITER_WAIT:?} (or exited)")
            })?;
            match want(&line) {
                Some(answer) => return Ok(answer),
                None => record_ack(acks, &line),
            }
        }
    }

    fn run(&mut self, from: u64, after: Duration) -> Result<BTreeMap<u64, String>, String> {
        let mut acks = BTreeMap::new();
        self.say(&format!("fork {from}"))?;
        let pid = self.read_until(&mut acks, |line| {
            line.strip_prefix("pid ").map(str::to_owned)
        })?;
        // As for a spawned writer: killed all the same if it prints nothing.
        let deadline = Instant::now() + WRITER_WAIT;
        while acks.is_empty()
            && let Ok(line) = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            record_ack(&mut acks, &line);
        }
        std::thread::sleep(after);
        self.say(&format!("kill {pid}"))?;
        let prefix = format!("exited {pid} ");
        let ended = self.read_until(&mut acks, |line| {
            line.strip_prefix(&prefix).map(str::to_owned)
        })?;
        match ended.as_str() {
            "killed" => Ok(acks),
            _ if acks.is_empty() => Err(format!(
                "the writer exited on its own ({ended}) without saving"
            )),
            _ => Ok(acks),
        }
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        // End of input: the server kills its writer and exits; killed if it does not.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` with its stdin and stdout piped (stderr dropped) and a thread
/// that sends each line of its stdout.
fn spawn_with_lines(
    command: &mut std::process::Command,
) -> Result<
    (
        std::process::Child,
        std::process::ChildStdin,
        std::sync::mpsc::Receiver<String>,
    ),
    String,
> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the writer: {e}"))?;
    let stdout = child.stdout.take().ok_or("the writer has no stdout")?;
    let stdin = child.stdin.take().ok_or("the writer has no stdin")?;
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    Ok((child, stdin, lines))
}

/// Records an `ack <k> <id>` line; other lines are not acks.
fn record_ack(acks: &mut BTreeMap<u64, String>, line: &str) {
    let mut parts = line.splitn(3, ' ');
    if let (Some("ack"), Some(k), Some(id)) = (parts.next(), parts.next(), parts.next())
        && let Ok(k) = k.parse()
    {
        acks.insert(k, id.to_owned());
    }
}

/// A started writer process, waiting for its go; killed when dropped unused.
struct WriterProcess {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for WriterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WriterProcess {
    fn start(mut command: std::process::Command) -> Result<WriterProcess, String> {
        let (child, stdin, lines) = spawn_with_lines(&mut command)?;
        Ok(WriterProcess {
            child,
            stdin,
            lines,
        })
    }

    /// Tells the writer to open the store and write; one that wrote before it was told
    /// would have written beside the previous writer.
    fn go(&self) -> Result<(), String> {
        use std::io::Write;
        if self.lines.try_recv().is_ok() {
            return Err(
                "the writer wrote before it was told to start: a crash writer must \
                 wait for a line on stdin before it opens the store (ADAPTERS.md)"
                    .into(),
            );
        }
        (&self.stdin)
            .write_all(b"go\n")
            .map_err(|e| format!("cannot start the writer: {e}"))
    }

    /// Lets the writer run until `after` past its first line of output (so that its
    /// first save, which may create a table, does not eat the writing time), then
    /// SIGKILLs it; the acknowledgements it printed.
    fn kill_after(mut self, after: Duration) -> Result<BTreeMap<u64, String>, String> {
        let mut acks = BTreeMap::new();
        // A writer that prints nothing in time is killed all the same.
        if let Ok(line) = self.lines.recv_timeout(WRITER_WAIT) {
            record_ack(&mut acks, &line);
        }
        std::thread::sleep(after);
        let exited_early = self.child.try_wait().map_err(|e| e.to_string())?;
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader ends at the dead writer's end of output.
        for line in self.lines.iter() {
            record_ack(&mut acks, &line);
        }
        match exited_early {
            Some(status) if acks.is_empty() => Err(format!(
                "the writer exited on its own ({status}) without saving"
            )),
            _ => Ok(acks),
        }
    }
}
