//! The media engine's I/O: RTP sockets, port pool, drives `media` graphs, prompt and
//! recording files.
