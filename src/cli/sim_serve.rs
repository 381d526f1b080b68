//! `kong sim serve`: the simulator's metrics as a Prometheus scrape target.
//!
//! Every `GET /metrics` reads the live weights of every dial through the chosen backend
//! ([`super::live::LiveWeights`]: the simulator's world is opened again on every scrape, so
//! moves made by another kong process show up) and computes the simulator's traffic model
//! from them ([`crate::backend::sim::traffic::metrics`]). A failed read answers HTTP 500
//! with the error: Prometheus marks the target down, queries get no data, and checks fail,
//! as they should. Served by axum ([`crate::web`], shared with `kong dashboard`); anything
//! but `GET /metrics` is 404 (405 for another method). It never changes a weight.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::context::{Context, Line};
use super::exit::Done;
use super::live::LiveWeights;
use super::{CliError, Common};
use crate::backend::sim::{exposition, traffic};
use crate::model::Topology;

/// Serves `GET /metrics` on `listen` until SIGINT or SIGTERM.
pub fn run(common: &Common, listen: &str) -> Result<Done, CliError> {
    let addr = crate::web::parse_listen(listen, "127.0.0.1:9464").map_err(CliError::Usage)?;
    let ctx = Context::<Arc<Topology>>::open(common, "sim serve", Line::Stdout)?;
    let live = Arc::new(LiveWeights::open(&ctx)?);
    ctx.block_on(async move {
        let listener = crate::web::bind(addr).await.map_err(CliError::Refused)?;
        let local = listener
            .local_addr()
            .map_err(|e| CliError::Unexpected(e.into()))?;
        println!("serving simulator metrics on http://{local}/metrics");
        crate::web::serve_until_signal(listener, router(live))
            .await
            .map_err(|e| CliError::Unexpected(e.into()))?;
        eprintln!("stopped serving on http://{local}/metrics");
        Ok(Done::Ok)
    })
}

fn router(live: Arc<LiveWeights>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: GET /metrics\n") })
        .with_state(live)
}

async fn metrics(State(live): State<Arc<LiveWeights>>) -> Response {
    match live.read().await {
        Ok(weights) => (
            [(header::CONTENT_TYPE, exposition::CONTENT_TYPE)],
            exposition::render(&traffic::metrics(live.topology(), &weights)),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "scrape failed");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
        }
    }
}
