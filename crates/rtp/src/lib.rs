//! RTP/RTCP (RFC 3550), G.711 µ-law/A-law, RFC 4733 telephone-events, jitter buffer (PURE).
