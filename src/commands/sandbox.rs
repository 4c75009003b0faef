//! `sandbox`: serves the local API double until Ctrl-C. The URL is stdout's first line, for
//! scripts.

use anyhow::{Context, Result};

use crate::config::SandboxSettings;
use crate::exit::Exit;
use crate::sandbox::Sandbox;

pub async fn serve(settings: SandboxSettings) -> Result<Exit> {
    let sandbox = Sandbox::new(settings.sandbox)?;
    let port = settings.port;
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
        .await
        .with_context(|| format!("could not listen on 127.0.0.1:{port}"))?;
    let addr = listener.local_addr()?;
    super::print_stdout(&format!("http://{addr}{}\n", crate::sandbox::API_PREFIX))?;
    crate::output::Event::info("sandbox listening; Ctrl-C stops it")
        .field(
            "url",
            format!("http://{addr}{}", crate::sandbox::API_PREFIX),
        )
        .emit();
    sandbox
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(Exit::Done)
}
