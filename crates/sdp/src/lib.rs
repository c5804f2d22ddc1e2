//! SDP (RFC 4566/8866) parse and print, and RFC 3264 offer/answer (PURE).
