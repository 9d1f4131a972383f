//! Redis provider (issue 3).
