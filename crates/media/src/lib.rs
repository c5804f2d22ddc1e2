//! Media graphs (PURE): relay, playback, recording, DTMF collection; time is an input.
