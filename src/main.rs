#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    observatory::server::cli::main().await
}

#[cfg(feature = "csr")]
fn main() {
    observatory::ui::mount();
}

#[cfg(not(any(feature = "ssr", feature = "csr")))]
fn main() {
    eprintln!("build with `--features ssr` (server) or `--features csr` (browser app)");
}
