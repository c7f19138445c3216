//! UI-free gateway client: REST actions and the resumable event stream. Headless commands,
//! tests and the console all use it.
