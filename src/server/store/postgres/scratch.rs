//! A schema of its own on a PostgreSQL server, for tests and benchmarks: created empty, and
//! dropped with the value, so runs side by side on one database never meet.

/// The server every development and CI machine runs, unless `OBSERVATORY_TEST_POSTGRES` names
/// another.
pub const TEST_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct ScratchSchema {
    server: String,
    name: String,
}

impl ScratchSchema {
    /// A new, empty schema on `OBSERVATORY_TEST_POSTGRES` (or [`TEST_SERVER`]). Panics, naming
    /// the server, when it cannot be reached: the tests that ask for one need it.
    pub async fn for_tests() -> Self {
        let server = std::env::var("OBSERVATORY_TEST_POSTGRES").unwrap_or_else(|_| TEST_SERVER.into());
        Self::create(&server).await.unwrap_or_else(|e| {
            panic!("these tests need PostgreSQL at {server} (set OBSERVATORY_TEST_POSTGRES to use another): {e}")
        })
    }

    /// A new, empty schema on `server` (`postgres://…`).
    pub async fn create(server: &str) -> Result<Self, tokio_postgres::Error> {
        let name = format!("obs_scratch_{:016x}", rand::random::<u64>());
        let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(&format!("CREATE SCHEMA {name}")).await?;
        Ok(Self {
            server: server.into(),
            name,
        })
    }

    /// The server's URL with the schema as the search path: what `--store` takes.
    pub fn url(&self) -> String {
        let sep = if self.server.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.server, self.name)
    }

    pub fn config(&self) -> tokio_postgres::Config {
        self.url().parse().expect("the URL parsed when the schema was made")
    }

    /// A connection into the schema.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = self.config().connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        on_own_runtime(move || async move {
            if let Ok((client, connection)) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await {
                tokio::spawn(connection);
                let _ = client.batch_execute(&format!("DROP SCHEMA {name} CASCADE")).await;
            }
        });
    }
}

/// Runs the clean-up `work` makes to its end, on a thread and a runtime of its own: the
/// caller's runtime may be shutting down, or blocked in the very drop that cleans up.
pub fn on_own_runtime<F, W>(work: W)
where
    W: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(work());
    })
    .join();
}
