//! Untrusted text → safe display text, applied once at ingestion (UX.md, Text safety).
