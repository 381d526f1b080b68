//! The executor: applies a plan step by step through a [`crate::backend::TrafficBackend`],
//! journaling every intent before acting, verifying, baking, checking, and rolling back.
