//! `kong dashboard`: a read-only local web page following the active (or last) run live.
//!
//! The page and its JSON are built in [`crate::dashboard`]; this file feeds it from the
//! command's state (`ctx.state`: the run history and the lock) and the live weights
//! ([`super::live::LiveWeights`]), read again on every poll, and serves it on loopback
//! unless `--allow-remote` is given.

use std::sync::Arc;

use async_trait::async_trait;

use super::context::{Context, Line, State};
use super::exit::Done;
use super::live::LiveWeights;
use super::{CliError, Common};
use crate::dashboard::{Feed, Inputs};
use crate::model::{BackendKind, Topology};

/// What every poll reads: the state and the live weights.
struct StateFeed {
    state: State,
    live: LiveWeights,
}

#[async_trait]
impl Feed for StateFeed {
    async fn read(&self) -> Result<Inputs, String> {
        let state = self.state.clone();
        let topology = self.live.topology().name.clone();
        let history = async {
            let runs = state.list_runs().await?;
            let holder = state.lock_holder(&topology).await?;
            Ok::<_, CliError>((runs, holder.map(|h| h.run_id)))
        };
        let (history, weights) = tokio::join!(history, self.live.read());
        let (runs, lock_holder) = history.map_err(|e| format!("reading the state: {e}"))?;
        Ok(Inputs {
            runs,
            weights,
            lock_holder,
        })
    }
}

/// Serves the dashboard on `listen` until SIGINT or SIGTERM.
pub fn run(common: &Common, listen: &str, allow_remote: bool) -> Result<Done, CliError> {
    let addr = crate::web::parse_listen(listen, "127.0.0.1:9465").map_err(CliError::Usage)?;
    let warning =
        crate::web::check_listen(addr, allow_remote, "--allow-remote").map_err(CliError::Usage)?;
    let ctx = Context::<Arc<Topology>>::open(common, "dashboard", Line::Stdout)?;
    let live = LiveWeights::open(&ctx)?;
    let backend = match ctx.kind {
        BackendKind::Sim => "sim",
        BackendKind::Aws => "aws",
    };
    let router = crate::dashboard::router(
        ctx.topology().clone(),
        backend,
        Arc::new(StateFeed {
            state: ctx.state.clone(),
            live,
        }),
    );
    ctx.block_on(async move {
        let listener = crate::web::bind(addr).await.map_err(CliError::Refused)?;
        let local = listener
            .local_addr()
            .map_err(|e| CliError::Unexpected(e.into()))?;
        if let Some(warning) = warning {
            eprintln!("{warning}");
        }
        println!("dashboard on http://{local}/ (read-only; Ctrl-C to stop)");
        crate::web::serve_until_signal(listener, router)
            .await
            .map_err(|e| CliError::Unexpected(e.into()))?;
        eprintln!("stopped serving on http://{local}/");
        Ok(Done::Ok)
    })
}
