//! PostgreSQL store checks the scenarios cannot make: isolation of test schemas, and
//! faults (connections terminated, the server restarted).
//!
//! They need a server (`TOKENSTORE_POSTGRES_URL`); without one they are listed as
//! ignored with the reason, or fail when PostgreSQL is required
//! (`TOKENSTORE_REQUIRE=postgres`). The restart test also needs
//! `TOKENSTORE_POSTGRES_RESTART_CMD`. The trials run one at a time: the fault tests
//! terminate every other connection of this user to this database.

use std::process::ExitCode;

use tokenstore_harness::libtest_mimic::{Arguments, Failed, run};
use tokenstore_harness::{StoreError, Token, TokenStore, runtime};
use tokenstore_stores::postgres;
use tokenstore_stores::scratch_name;
use tokenstore_stores::{PostgresServer, PostgresStore, postgres_factory};

mod common;
use common::*;

const RESTART_VAR: &str = "TOKENSTORE_POSTGRES_RESTART_CMD";

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let checks: [ServerCheck; 5] = [
        (
            "isolation::scratch-schemas-dropped-even-on-failure",
            schemas_dropped,
            None,
        ),
        (
            "isolation::other-schemas-untouched",
            bystander_untouched,
            None,
        ),
        (
            "fault::terminated-connections",
            terminated_connections,
            None,
        ),
        ("fault::server-restart", server_restart, Some(RESTART_VAR)),
        ("audit-and-migrate", audit_and_migrate, None),
    ];
    let trials = server_trials("postgres", postgres::url_from_env(), &checks);
    run(&args, trials).exit_code()
}

/// Schemas of this process's scratch prefix.
async fn scratch_schemas(server: &PostgresServer) -> Result<Vec<String>, Failed> {
    let client = server.client().await.map_err(fail)?;
    let pattern = format!("tokenstore\\_{}\\_%", std::process::id());
    let rows = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1",
            &[&pattern],
        )
        .await
        .map_err(fail)?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

fn schemas_dropped(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let server = PostgresServer::new(url).map_err(fail)?;
        let factory = postgres_factory(url.into(), None);
        scratch_removed(&factory, || scratch_schemas(&server)).await
    })
}

fn bystander_untouched(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let server = PostgresServer::new(url).map_err(fail)?;
        let name = format!("bystander_{}", std::process::id());
        let bystander = server.store(&name).await.map_err(fail)?;
        let factory = postgres_factory(url.into(), None);
        let outcome = common::bystander_untouched(&bystander, &factory).await;
        bystander.drop_schema().await.map_err(fail)?;
        outcome
    })
}

/// A new pool on the store's schema, as a second process would open it.
async fn reopen(url: &str, store: &PostgresStore) -> Result<PostgresStore, StoreError> {
    PostgresServer::new(url)?.store(store.schema()).await
}

/// Terminates every other backend of this user on this database.
async fn terminate_others(admin: &PostgresServer) -> Result<usize, Failed> {
    let client = admin.client().await.map_err(fail)?;
    let rows = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = current_user AND datname = current_database() \
             AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .map_err(fail)?;
    Ok(rows.len())
}

fn terminated_connections(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let admin = PostgresServer::new(url).map_err(fail)?;
        let server = PostgresServer::new(url).map_err(fail)?;
        let store = server.store(&scratch_name()).await.map_err(fail)?;
        let kill = || terminate_others(&admin);
        let outcome = connections_killed(&store, reopen(url, &store), kill).await;
        store.drop_schema().await.map_err(fail)?;
        outcome
    })
}

fn server_restart(url: &str) -> Result<(), Failed> {
    let command = std::env::var(RESTART_VAR).map_err(fail)?;
    runtime().block_on(async {
        let server = PostgresServer::new(url).map_err(fail)?;
        let store = server.store(&scratch_name()).await.map_err(fail)?;
        let outcome = server_restarted(&store, reopen(url, &store), command).await;
        store.drop_schema().await.map_err(fail)?;
        outcome
    })
}

/// `audit` of a damaged table with text columns (a custom store's) finds the damage;
/// `migrate` of it into the PostgreSQL store (its batch writer) resolves it, a second
/// run changes nothing, and `audit` of the result is clean.
fn audit_and_migrate(url: &str) -> Result<(), Failed> {
    use tokenstore_stores::audit::{AuditSource, FindingKind, audit};
    use tokenstore_stores::migrate::{OnDuplicate, plan, write};
    runtime().block_on(async {
        let server = PostgresServer::new(url).map_err(fail)?;
        let schema = scratch_name();
        let client = server.client().await.map_err(fail)?;
        let columns = "id text, user_name text, client_id text, client_secret text, \
             refresh_token text, access_token text, grant_token text, expiry_time text, \
             redirect_url text, api_domain text";
        client
            .batch_execute(&format!(
                "CREATE SCHEMA {schema}; CREATE TABLE {schema}.custom ({columns}); \
                 INSERT INTO {schema}.custom VALUES \
                 ('1', 'u@x', NULL, NULL, 'rt-secret-1', NULL, NULL, '1900000000000', NULL, NULL), \
                 ('2', 'u@x', NULL, NULL, 'rt-secret-2', NULL, NULL, '1900000000001', NULL, ''), \
                 ('3', 'v@x', NULL, NULL, 'rt-secret-3', NULL, NULL, '1900000000000', NULL, NULL)"
            ))
            .await
            .map_err(fail)?;
        let outcome = async {
            let source =
                AuditSource::parse(url, Some(&format!("{schema}.custom"))).map_err(fail)?;
            let report = audit(&source, tokenstore_harness::Limits::NONE)
                .await
                .map_err(fail)?;
            let kinds: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
            for kind in [FindingKind::SharedKey, FindingKind::EmptyString] {
                if !kinds.contains(&kind) {
                    return Err(fail(format!("no {kind:?} finding in {kinds:?}")));
                }
            }
            let plan = plan(&source, OnDuplicate::Newest, false)
                .await
                .map_err(fail)?;
            let dest = server.store(&schema).await.map_err(fail)?;
            let batch = async |tokens: &[Token]| dest.import(tokens).await;
            let mut batch = batch;
            write(&plan, &dest, &mut batch, |_| ())
                .await
                .map_err(fail)?;
            let first = dest.get_tokens().await.map_err(fail)?;
            write(&plan, &dest, &mut batch, |_| ())
                .await
                .map_err(fail)?;
            let second = dest.get_tokens().await.map_err(fail)?;
            if first.len() != 2 || first != second {
                return Err(fail(format!(
                    "{} tokens, then {}",
                    first.len(),
                    second.len()
                )));
            }
            let copied =
                AuditSource::parse(url, Some(&format!("{schema}.oauthtoken"))).map_err(fail)?;
            let clean = audit(&copied, tokenstore_harness::Limits::NONE)
                .await
                .map_err(fail)?;
            match clean.findings.is_empty() && clean.rows == 2 {
                true => Ok(()),
                false => Err(fail(format!("the copy is not clean: {:?}", clean.findings))),
            }
        }
        .await;
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .map_err(fail)?;
        outcome
    })
}
