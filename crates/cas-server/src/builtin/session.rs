//! `session`: login, logout, info. Login verifies the password against the stored HA1, so no
//! password is ever kept; unknown users and wrong passwords get the same answer.

use cas_proto::catalogue::{FieldKind as K, opt, req};
use cas_proto::{CasError, ErrorCode, MessageSpec, Object, Request, TopicSpec};
use serde_json::json;
use sip::digest::{Algorithm, digest_eq, ha1};

use crate::Cas;
use crate::hub::SessionInfo;

pub static SPEC: TopicSpec = TopicSpec {
    topic: "session",
    doc: "Log in and out. Over HTTP the reply of `login` carries a `session` token, sent back \
          as `Authorization: Bearer TOKEN`; over WebSocket the socket itself is the session. \
          A session expires after `http.session_idle_timeout` seconds without requests or \
          polls, which also ends its subscriptions.",
    restricted: true,
    messages: &[
        MessageSpec {
            message: "login",
            action: None,
            fields: &[
                req("user", K::Str, "user name"),
                req("password", K::Str, "password"),
                opt("domain", K::Str, "domain (default: the server's domain)"),
            ],
            doc: "Opens a session.",
            reply: "`session` (HTTP only), `user`, `domain`, `role`, `permissions` (granted actions)",
            is_async: false,
        },
        MessageSpec {
            message: "logout",
            action: None,
            fields: &[],
            doc: "Ends the session and its subscriptions.",
            reply: "nothing",
            is_async: false,
        },
        MessageSpec {
            message: "info",
            action: None,
            fields: &[],
            doc: "Who this session is.",
            reply: "`user`, `domain`, `role`, `permissions`",
            is_async: false,
        },
    ],
    events: &[("events", "the long-poll reply: `events` (list of messages)")],
    actions: &[],
};

impl Cas {
    /// Verifies credentials; `Ok((user, domain, role))`.
    pub(crate) async fn check_login(
        &self,
        req: &Request,
    ) -> Result<(String, String, String), CasError> {
        SPEC.message("login").map_or(Ok(()), |m| m.validate(req))?;
        let user = req.str("user")?;
        let password = req.str("password")?;
        let domain = req
            .opt_str("domain")?
            .unwrap_or(&self.default_domain)
            .to_ascii_lowercase();
        let refused = || CasError::new(ErrorCode::NotLoggedIn, "wrong user name or password");
        let creds = self
            .store
            .credentials(&domain, user)
            .await
            .map_err(|_| refused())?;
        let given = ha1(Algorithm::Md5, user, &domain, password);
        // Unknown users cost the same comparison as known ones.
        let stored = creds.map(|c| c.ha1_md5).unwrap_or_else(|| "0".repeat(32));
        if !digest_eq(&given, &stored) {
            return Err(refused());
        }
        let role = self
            .perms
            .role_of(&domain, user)
            .await
            .map_err(services::provider::store_error)?;
        Ok((user.to_owned(), domain, role))
    }

    pub(crate) fn session_body(&self, s: &SessionInfo) -> Object {
        let mut o = Object::new();
        o.insert("user".into(), json!(s.user));
        o.insert("domain".into(), json!(s.domain));
        o.insert("role".into(), json!(s.role));
        o.insert(
            "permissions".into(),
            json!(self.perms.of_role(&s.role).list()),
        );
        o
    }
}
