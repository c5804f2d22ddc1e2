//! The ceiling: the same HTTP stack as Switchboard's CAS (axum 0.8 on hyper, tokio
//! multi-thread runtime, `into_make_service_with_connect_info`), answering `POST /cas` by
//! parsing the JSON body and returning a small JSON reply. No sessions, no logic.
//!
//! `GET /cas/ws` is the same for WebSockets (axum's default WebSocket settings, as in
//! Switchboard): every text frame is answered with a small JSON reply, so `cas-bench
//! sessions --ims 0` can measure the memory of idle WebSockets on the bare stack.
//!
//! Usage: `echo-server [ADDR]` (default 127.0.0.1:0); prints `listening http ADDR`.

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

async fn echo(Json(v): Json<Value>) -> Json<Value> {
    Json(reply(&v))
}

fn reply(v: &Value) -> Value {
    json!({
        "topic": v.get("topic"),
        "message": v.get("message"),
        "request_id": v.get("request_id"),
        "response": 0,
    })
}

async fn ws(upgrade: WebSocketUpgrade) -> Response {
    // For experiments only: ECHO_WS_READ_BUFFER=4096 shrinks tungstenite's read buffer
    // (128 KiB by default, allocated when the socket opens).
    let upgrade = match std::env::var("ECHO_WS_READ_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) => upgrade.read_buffer_size(n),
        None => upgrade,
    };
    upgrade.on_upgrade(ws_echo)
}

async fn ws_echo(mut socket: WebSocket) {
    let mut seq = 0u64;
    while let Some(Ok(m)) = socket.recv().await {
        let Message::Text(t) = m else { continue };
        let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
        seq += 1;
        let mut r = reply(&v);
        r["sequence_id"] = json!(seq);
        if socket.send(Message::Text(r.to_string().into())).await.is_err() {
            break;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening http {}", listener.local_addr()?);
    let app = Router::new()
        .route("/cas", post(echo))
        .route("/cas/ws", get(ws));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
