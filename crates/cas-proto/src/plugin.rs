//! The plug-in protocol on `/cas/plugin` (WebSocket, JSON text frames).
//!
//! ```text
//! plug-in → server  {"type":"hello","credential":"…","name":"weather"}
//! server → plug-in  {"type":"welcome","name":"weather"}
//! plug-in → server  {"type":"register","topics":["weather"]}
//! server → plug-in  {"type":"registered","topics":["weather"],"refused":[{"topic":"dir","reason":"restricted"}]}
//! server → plug-in  {"type":"request","id":7,"user":"alice@example.com","permissions":["weather.read"],"request":{…}}
//! plug-in → server  {"type":"reply","id":7,"reply":{"response":0,…}}
//! plug-in → server  {"type":"event","user":"alice@example.com","event":{"topic":"weather","message":"changed",…}}
//! server → plug-in  {"type":"error","message":"…"}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub topic: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PluginMessage {
    Hello {
        credential: String,
        name: String,
    },
    Welcome {
        name: String,
    },
    Register {
        topics: Vec<String>,
    },
    Registered {
        topics: Vec<String>,
        refused: Vec<Refusal>,
    },
    Request {
        id: u64,
        user: String,
        permissions: Vec<String>,
        request: Value,
    },
    Reply {
        id: u64,
        reply: Value,
    },
    Event {
        user: String,
        event: Value,
    },
    Error {
        message: String,
    },
}

impl PluginMessage {
    pub fn parse(text: &str) -> Result<PluginMessage, String> {
        serde_json::from_str(text).map_err(|e| format!("malformed plug-in message: {e}"))
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = PluginMessage::Register {
            topics: vec!["weather".into()],
        };
        assert_eq!(m.to_text(), r#"{"type":"register","topics":["weather"]}"#);
        assert_eq!(PluginMessage::parse(&m.to_text()).unwrap(), m);
        assert!(PluginMessage::parse(r#"{"type":"nope"}"#).is_err());
    }
}
