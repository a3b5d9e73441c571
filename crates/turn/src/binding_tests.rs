//! Binding client scenarios.
