//! HTTP routes: `POST /cas` (JSON or XML, answered in kind), `GET /cas/events` (long-poll),
//! `GET /cas/ws` (WebSocket), `GET /cas/plugin` (plug-ins), `GET /cas/openapi.json`.
//! Every error is a 4xx/5xx with an error body in the client's format; nothing panics.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cas_proto::{CasError, ErrorCode, Format, Limits, Object, Reply, decode, encode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::Cas;
use crate::dispatch::{Channel, release};
use crate::hub::{SessionInfo, now_ms};

pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

pub fn router(cas: Arc<Cas>) -> Router {
    Router::new()
        .route("/cas", post(post_cas))
        .route("/cas/events", get(events))
        .route("/cas/ws", get(ws_upgrade))
        .route("/cas/plugin", get(plugin_upgrade))
        .route("/cas/openapi.json", get(openapi))
        .route("/cas/file/{topic}/{token}", get(crate::download::file))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(cas)
}

/// Every message carries `timestamp`; session messages already have it (with their
/// `sequence_id`), the others (errors before a session exists) get it here.
fn with_timestamp(mut body: Object) -> Value {
    if !body.contains_key("timestamp") {
        body.insert("timestamp".into(), json!(now_ms()));
    }
    Value::Object(body)
}

fn respond(format: Format, status: StatusCode, body: &Object) -> Response {
    respond_owned(format, status, body.clone())
}

/// Encodes without copying the reply tree.
fn respond_owned(format: Format, status: StatusCode, body: Object) -> Response {
    let bytes = encode(&with_timestamp(body), format);
    (
        status,
        [(header::CONTENT_TYPE, format.content_type())],
        bytes,
    )
        .into_response()
}

pub(crate) fn error_response(format: Format, e: &CasError) -> Response {
    let status = StatusCode::from_u16(e.code.code()).unwrap_or(StatusCode::BAD_REQUEST);
    respond(format, status, &Reply::error(None, e))
}

/// The answer format: Accept if it names one, else the request's.
fn answer_format(headers: &HeaderMap, request: Option<Format>) -> Format {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split(',').find_map(Format::from_content_type))
        .or(request)
        .unwrap_or(Format::Json)
}

/// The token of `Authorization: Bearer TOKEN` (the scheme is case-insensitive, RFC 9110
/// §11.1).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

async fn post_cas(State(cas): State<Arc<Cas>>, headers: HeaderMap, body: Body) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let req_format = Format::from_content_type(ct);
    let format = answer_format(&headers, req_format);
    let Some(req_format) = req_format else {
        let e = CasError::new(
            ErrorCode::UnsupportedFormat,
            format!("Content-Type {ct:?} is neither application/json nor application/xml"),
        );
        return error_response(format, &e);
    };
    let limit = cas.cfg.max_body;
    let bytes = match axum::body::to_bytes(body, limit + 1).await {
        Ok(b) if b.len() <= limit => b,
        _ => {
            let e = CasError::new(
                ErrorCode::TooLarge,
                format!("body exceeds the limit of {limit} bytes"),
            );
            return error_response(format, &e);
        }
    };
    let limits = Limits {
        max_bytes: limit,
        ..Limits::default()
    };
    let value = match decode(&bytes, req_format, &limits) {
        Ok(v) => v,
        Err(e) => return error_response(format, &e),
    };
    // A stale token must not stop the client from logging in again.
    let is_login = value.get("topic").and_then(Value::as_str) == Some("session")
        && value.get("message").and_then(Value::as_str) == Some("login");
    let session = match bearer(&headers) {
        Some(t) => match cas.hub.by_token(t) {
            Some(s) => Some(s),
            None if is_login => None,
            None => {
                let e = CasError::new(ErrorCode::NotLoggedIn, "unknown or expired session token");
                return error_response(format, &e);
            }
        },
        None => None,
    };
    let handled = cas.handle(session, value, Channel::Http).await;
    let mut reply = handled.reply;
    if let Some(s) = &handled.session {
        cas.hub.stamp(s.id, &mut reply);
    }
    release(handled.later);
    let code = reply.get("response").and_then(Value::as_u64).unwrap_or(0);
    let status = if code == 0 {
        StatusCode::OK
    } else {
        u16::try_from(code)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST)
    };
    respond_owned(format, status, reply)
}

#[derive(Deserialize)]
struct PollParams {
    timeout: Option<u64>,
}

async fn events(
    State(cas): State<Arc<Cas>>,
    headers: HeaderMap,
    params: Result<Query<PollParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let format = answer_format(&headers, None);
    let Ok(Query(params)) = params else {
        return error_response(
            format,
            &CasError::bad_request("timeout must be a number of seconds"),
        );
    };
    let Some(s) = bearer(&headers).and_then(|t| cas.hub.by_token(t)) else {
        return error_response(
            format,
            &CasError::new(
                ErrorCode::NotLoggedIn,
                "log in first; send the token as Authorization: Bearer",
            ),
        );
    };
    let timeout = Duration::from_secs(params.timeout.unwrap_or(30).min(120));
    let Some(events) = cas.hub.poll(s.id, timeout).await else {
        return error_response(
            format,
            &CasError::new(ErrorCode::NotLoggedIn, "the session ended"),
        );
    };
    let mut body = Object::new();
    body.insert("topic".into(), json!("session"));
    body.insert("message".into(), json!("events"));
    body.insert("response".into(), json!(0));
    body.insert(
        "events".into(),
        Value::Array(events.into_iter().map(Value::Object).collect()),
    );
    respond(format, StatusCode::OK, &body)
}

/// Socket buffers start small (the library's default is 128 KiB per socket, which made an idle
/// session cost ~135 KiB); they grow for large messages up to `max_body`.
const WS_BUFFER: usize = 4096;

async fn ws_upgrade(State(cas): State<Arc<Cas>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(cas.cfg.max_body)
        .read_buffer_size(WS_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| ws_session(cas, socket))
}

async fn plugin_upgrade(State(cas): State<Arc<Cas>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(cas.cfg.max_body)
        .on_upgrade(move |socket| crate::plugin::serve(cas, socket))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> Response {
    error_response(
        Format::Json,
        &CasError::not_found("no such route; the API is POST /cas"),
    )
}

/// One WebSocket client: requests and replies both ways, events pushed as they happen. Once
/// logged in, replies go through the session's queue like events, so every message leaves
/// in `sequence_id` order.
async fn ws_session(cas: Arc<Cas>, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Object>();
    let mut session: Option<SessionInfo> = None;
    let mut format = Format::Json;
    let limits = Limits {
        max_bytes: cas.cfg.max_body,
        ..Limits::default()
    };
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(msg) = out else { break };
                if send(&mut socket, format, &msg).await.is_err() {
                    break;
                }
            }
            inc = socket.recv() => {
                let text = match inc {
                    Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                format = if text.trim_start().starts_with('<') { Format::Xml } else { Format::Json };
                let value = match decode(text.as_bytes(), format, &limits) {
                    Ok(v) => v,
                    Err(e) => {
                        let r = Reply::error(None, &e);
                        match &session {
                            Some(s) => cas.hub.deliver(s.id, r),
                            None if send(&mut socket, format, &r).await.is_err() => break,
                            None => {}
                        }
                        continue;
                    }
                };
                // Events keep flowing while a request waits (e.g. on a slow plug-in).
                let pending = cas.handle(session.clone(), value, Channel::Ws(tx.clone()));
                tokio::pin!(pending);
                let mut broken = false;
                let handled = loop {
                    tokio::select! {
                        h = &mut pending => break h,
                        Some(msg) = rx.recv(), if !broken => {
                            broken = send(&mut socket, format, &msg).await.is_err();
                        }
                    }
                };
                if broken {
                    if let Some(old) = &session {
                        cas.hub.end(old.id);
                    }
                    session = handled.session;
                    break;
                }
                let previous = std::mem::replace(&mut session, handled.session);
                match (&previous, &session) {
                    // A second login on the socket replaces the first session.
                    (Some(old), Some(new)) if old.id != new.id => cas.hub.end(old.id),
                    // Logged out, or the session ended under the socket.
                    (Some(_), None) => {
                        let _ = send(&mut socket, format, &handled.reply).await;
                        break;
                    }
                    _ => {}
                }
                match &session {
                    Some(s) => cas.hub.deliver(s.id, handled.reply),
                    None => {
                        if send(&mut socket, format, &handled.reply).await.is_err() {
                            break;
                        }
                    }
                }
                release(handled.later);
            }
        }
    }
    if let Some(s) = session {
        cas.hub.end(s.id);
    }
}

async fn send(socket: &mut WebSocket, format: Format, msg: &Object) -> Result<(), axum::Error> {
    let bytes = encode(&with_timestamp(msg.clone()), format);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    socket.send(Message::Text(text.into())).await
}
