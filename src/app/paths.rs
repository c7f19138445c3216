//! Where callwatch keeps its files when no flag or config key says otherwise, for the
//! gateway and the console alike.

use std::path::PathBuf;

fn project() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "callwatch", "callwatch")
}

/// `<config dir>/callwatch/config.toml` (platform specific).
pub fn config_file() -> Option<PathBuf> {
    project().map(|d| d.config_dir().join("config.toml"))
}

/// The data directory: the database and the log file.
pub fn data_dir() -> Option<PathBuf> {
    project().map(|d| d.data_dir().to_path_buf())
}

pub fn log_file() -> Option<PathBuf> {
    data_dir().map(|d| d.join("callwatch.log"))
}

pub fn database() -> Option<PathBuf> {
    data_dir().map(|d| d.join("callwatch.db"))
}
