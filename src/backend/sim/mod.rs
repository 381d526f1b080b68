//! The embedded simulator: a world of dials, capacities and loads persisted in the state dir.
