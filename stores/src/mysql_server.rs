//! Where the MySQL server for checks and tests comes from, in this order:
//! `TOKENSTORE_MYSQL_URL`; else, built with the `docker` feature and when a Docker
//! engine answers, a MySQL 8 container; else none, with the reason — which is a
//! setup error when MySQL is required (`TOKENSTORE_REQUIRE=mysql`).

use secrecy::{ExposeSecret, SecretString};

/// The environment variable naming the server.
pub const URL_VAR: &str = "TOKENSTORE_MYSQL_URL";
/// A comma-separated list of backends that must not be skipped (`mysql`, `postgres`).
pub const REQUIRE_VAR: &str = "TOKENSTORE_REQUIRE";

/// A MySQL server to run against, or why there is none. A container lives as long as
/// this value.
pub enum MysqlSource {
    /// The server in `TOKENSTORE_MYSQL_URL`.
    Url(SecretString),
    /// A MySQL container started for this run (feature `docker`).
    #[cfg(feature = "docker")]
    Container {
        /// Its URL.
        url: SecretString,
        /// Kept so that the container lives as long as this value.
        _container: Box<
            testcontainers_modules::testcontainers::ContainerAsync<
                testcontainers_modules::mysql::Mysql,
            >,
        >,
    },
    /// Why no server is available.
    Unavailable(String),
}

impl MysqlSource {
    /// Looks for a server: the URL first, then Docker.
    pub async fn find() -> MysqlSource {
        if let Ok(url) = std::env::var(URL_VAR)
            && !url.is_empty()
        {
            return MysqlSource::Url(SecretString::from(url));
        }
        container().await
    }

    /// The server's URL, if there is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            MysqlSource::Url(url) => Some(url.expose_secret()),
            #[cfg(feature = "docker")]
            MysqlSource::Container { url, .. } => Some(url.expose_secret()),
            MysqlSource::Unavailable(_) => None,
        }
    }

    /// Why there is no server.
    pub fn reason(&self) -> Option<&str> {
        match self {
            MysqlSource::Unavailable(why) => Some(why),
            _ => None,
        }
    }
}

/// What `TOKENSTORE_REQUIRE` and `--require` may name: a backend or a tool whose
/// tests must run rather than be skipped for want of it.
pub const REQUIRABLE: [&str; 5] = ["mysql", "postgres", "redis", "python", "junit-xsd"];

/// The first name in `TOKENSTORE_REQUIRE` that is not one of [`REQUIRABLE`].
pub fn unknown_required() -> Option<String> {
    let value = std::env::var(REQUIRE_VAR).ok()?;
    value
        .split(',')
        .map(str::trim)
        .find(|b| !b.is_empty() && !REQUIRABLE.contains(b))
        .map(str::to_owned)
}

/// True when `TOKENSTORE_REQUIRE` names `backend`.
pub fn required(backend: &str) -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v.split(',').any(|b| b.trim() == backend))
}

#[cfg(feature = "docker")]
async fn container() -> MysqlSource {
    use testcontainers_modules::mysql::Mysql;
    use testcontainers_modules::testcontainers::ImageExt;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;

    match Mysql::default().with_tag("8.4").start().await {
        Ok(c) => {
            let host = c.get_host().await.map(|h| h.to_string());
            let port = c.get_host_port_ipv4(3306).await;
            match (host, port) {
                (Ok(host), Ok(port)) => MysqlSource::Container {
                    url: SecretString::from(format!("mysql://root@{host}:{port}/test")),
                    _container: Box::new(c),
                },
                _ => MysqlSource::Unavailable(
                    "the MySQL container started but exposes no port".into(),
                ),
            }
        }
        Err(e) => MysqlSource::Unavailable(format!(
            "{URL_VAR} is not set and no MySQL container could be started ({e})"
        )),
    }
}

#[cfg(not(feature = "docker"))]
async fn container() -> MysqlSource {
    MysqlSource::Unavailable(format!(
        "{URL_VAR} is not set (and this build has no `docker` feature to start a MySQL container)"
    ))
}
