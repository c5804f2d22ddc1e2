//! `GET /cas/file/{topic}/{token}`: files a provider handed out a token for (today the
//! voicemail `vm.download`, served as `audio/wav`). The token is short-lived, bound to the
//! CAS session that asked and refused once that session ended; when the request also
//! carries `Authorization: Bearer`, that session must belong to the same user.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cas_proto::{CasError, ErrorCode, Format};

use crate::Cas;
use crate::http::{bearer, error_response};

pub(crate) async fn file(
    State(cas): State<Arc<Cas>>,
    Path((topic, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let no_such = || error_response(Format::Json, &CasError::not_found("no such file"));
    let Some(grant) = cas
        .providers
        .get(topic.as_str())
        .and_then(|p| p.file(&token))
    else {
        return no_such();
    };
    let Some(session) = cas.hub.touch(grant.session) else {
        let e = CasError::new(ErrorCode::NotLoggedIn, "the session that asked has ended");
        return error_response(Format::Json, &e);
    };
    if let Some(t) = bearer(&headers) {
        let same_user = cas
            .hub
            .by_token(t)
            .is_some_and(|s| format!("{}@{}", s.user, s.domain) == grant.user);
        if !same_user {
            let e = CasError::not_permitted("the file belongs to another user");
            return error_response(Format::Json, &e);
        }
    }
    let bytes = match tokio::fs::read(&grant.path).await {
        Ok(b) => b,
        Err(_) => return no_such(),
    };
    tracing::debug!(
        session = session.id,
        topic = %topic,
        bytes = bytes.len(),
        "file downloaded"
    );
    let disposition = format!("attachment; filename=\"{}\"", grant.name.replace('"', ""));
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, grant.content_type)],
        bytes,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}
