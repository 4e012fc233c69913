//! The pure X12 engine.
