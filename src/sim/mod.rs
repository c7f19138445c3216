//! The built-in call simulator: a provider like any other (issue: call simulator).
