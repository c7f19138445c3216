//! `[console]` configuration. Precedence: command line > environment (CALLWATCH_URL,
//! CALLWATCH_TOKEN, CALLWATCH_TOKEN_FILE, NO_COLOR) > the config file > defaults.
//! docs/CONFIGURATION.md documents every key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use super::keys::{KeySpec, Keymap};
use super::theme::{Theme, ThemeName};
use crate::client::Backend;

pub const DEFAULT_URL: &str = "http://127.0.0.1:7878";
/// A cap for bursts, not a tick: at 60 an event waits at most ~17 ms for its frame.
pub const DEFAULT_MAX_FPS: u32 = 60;
pub const DEFAULT_LINGER_SECS: u32 = 30;

#[derive(Debug, Default, Deserialize)]
struct FileRoot {
    #[serde(default)]
    console: FileConsole,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConsole {
    /// "gateway" (default) or "socketio" (a seed-style backend).
    backend: Option<String>,
    url: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    theme: Option<String>,
    #[serde(default)]
    colors: BTreeMap<String, String>,
    #[serde(default)]
    keys: BTreeMap<String, KeySpec>,
    mask_numbers: Option<bool>,
    mouse: Option<bool>,
    max_fps: Option<u32>,
    log_file: Option<PathBuf>,
    linger_secs: Option<u32>,
    #[serde(default)]
    alert_bell: Vec<String>,
    #[serde(default)]
    alert_title: Vec<String>,
}

/// The resolved console settings.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// What `url` is: a callwatch gateway or a seed-style Socket.IO backend.
    pub backend: Backend,
    pub url: String,
    pub token: String,
    pub theme: Theme,
    pub keymap: Keymap,
    pub mask_numbers: bool,
    pub mouse: bool,
    pub max_fps: u32,
    pub log_file: Option<PathBuf>,
    /// Where to write the event -> frame latency report at exit (a debugging aid).
    pub latency_report: Option<PathBuf>,
    /// How long an ended call stays in the table, seconds (0: leaves at once).
    pub linger_secs: u32,
    /// Alert kinds that ring the terminal bell ("*": every kind); empty: never.
    pub alert_bell: Vec<String>,
    /// Alert kinds that flash the terminal's title for a few seconds; empty: never.
    pub alert_title: Vec<String>,
    /// Shown in the UI and logged at start (duplicate keys, unknown slots...).
    pub warnings: Vec<String>,
}

/// What the command line (or a program embedding the console) asked for; `None` means not
/// given. Environment variables are read by [`load`], the file by [`resolve`].
#[derive(Debug, Clone, Default)]
pub struct ConsoleOptions {
    /// A config file that must exist.
    pub config: Option<PathBuf>,
    /// "gateway" or "socketio".
    pub backend: Option<String>,
    pub url: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub theme: Option<String>,
    pub mask_numbers: bool,
    pub mouse: bool,
    pub log_file: Option<PathBuf>,
    pub latency_report: Option<PathBuf>,
    /// Read when `config` is not given, if it exists.
    pub default_config: Option<PathBuf>,
    /// The log file when neither the options nor the file name one.
    pub default_log_file: Option<PathBuf>,
}

/// Loads the file named by `--config` (must exist) or the default one (may be absent).
pub fn load(args: &ConsoleOptions) -> anyhow::Result<ConsoleConfig> {
    let text = match &args.config {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config file {}", path.display()))?,
        ),
        None => match &args.default_config {
            Some(p) if p.exists() => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read the config file {}", p.display()))?,
            ),
            _ => None,
        },
    };
    resolve(args, &|k| std::env::var(k).ok(), text.as_deref())
}

/// Pure resolution, testable without touching the process environment.
pub fn resolve(
    args: &ConsoleOptions,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<&str>,
) -> anyhow::Result<ConsoleConfig> {
    let root: FileRoot = match file {
        Some(text) => toml::from_str(text).context("the config file is not valid")?,
        None => FileRoot::default(),
    };
    let f = root.console;
    let mut warnings = Vec::new();

    // clap already merged CLI and env into `args`; env values are detected by comparison so
    // that a --token-file on the command line beats CALLWATCH_TOKEN in the environment.
    let from_env = |name: &str, v: &str| env(name).is_some_and(|e| e == v);
    let url = args
        .url
        .clone()
        .or_else(|| env("CALLWATCH_URL"))
        .or(f.url)
        .unwrap_or_else(|| DEFAULT_URL.to_string());

    #[derive(PartialEq, PartialOrd)]
    enum Level {
        File,
        Env,
        Cli,
    }
    let mut candidates: Vec<(Level, TokenSource)> = Vec::new();
    if let Some(t) = &args.token {
        let level = if from_env("CALLWATCH_TOKEN", t) {
            Level::Env
        } else {
            Level::Cli
        };
        candidates.push((level, TokenSource::Literal(t.clone())));
    } else if let Some(t) = env("CALLWATCH_TOKEN") {
        candidates.push((Level::Env, TokenSource::Literal(t)));
    }
    if let Some(p) = &args.token_file {
        let level = if from_env("CALLWATCH_TOKEN_FILE", &p.to_string_lossy()) {
            Level::Env
        } else {
            Level::Cli
        };
        candidates.push((level, TokenSource::File(p.clone())));
    } else if let Some(p) = env("CALLWATCH_TOKEN_FILE") {
        candidates.push((Level::Env, TokenSource::File(PathBuf::from(p))));
    }
    if let Some(t) = f.token {
        candidates.push((Level::File, TokenSource::Literal(t)));
    }
    if let Some(p) = f.token_file {
        candidates.push((Level::File, TokenSource::File(expand_home(p))));
    }
    // Highest level wins; within a level the literal token (pushed first) wins.
    let mut best: Option<(Level, TokenSource)> = None;
    for c in candidates {
        if best.as_ref().is_none_or(|b| c.0 > b.0) {
            best = Some(c);
        }
    }
    let token = match best {
        Some((_, TokenSource::Literal(t))) => t,
        Some((_, TokenSource::File(p))) => read_token_file(&p)?,
        None => bail!(
            "no API token: set CALLWATCH_TOKEN, pass --token-file, or put `token_file` in the \
             [console] section of the config file (try `callwatch demo` for a trial without one)"
        ),
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        bail!("the API token is empty");
    }

    let no_color = env("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme_name = if let Some(t) = &args.theme {
        ThemeName::parse(t).with_context(|| format!("unknown theme {t:?} (dark, light, mono)"))?
    } else if no_color {
        ThemeName::Mono
    } else if let Some(t) = &f.theme {
        ThemeName::parse(t).unwrap_or_else(|| {
            warnings.push(format!(
                "unknown theme {t:?} in the config file; using dark"
            ));
            ThemeName::Dark
        })
    } else {
        ThemeName::Dark
    };
    let mut theme = Theme::named(theme_name);
    warnings.extend(theme.apply_overrides(&f.colors));

    let (keymap, key_warnings) = Keymap::build(&f.keys);
    warnings.extend(key_warnings);

    let max_fps = f.max_fps.unwrap_or(DEFAULT_MAX_FPS);
    if !(1..=120).contains(&max_fps) {
        warnings.push(format!(
            "max_fps {max_fps} is out of range 1..=120; using {DEFAULT_MAX_FPS}"
        ));
    }
    let max_fps = if (1..=120).contains(&max_fps) {
        max_fps
    } else {
        DEFAULT_MAX_FPS
    };

    let linger_secs = f.linger_secs.unwrap_or(DEFAULT_LINGER_SECS);
    let linger_secs = if linger_secs > 3600 {
        warnings.push(format!(
            "linger_secs {linger_secs} is more than 3600; using {DEFAULT_LINGER_SECS}"
        ));
        DEFAULT_LINGER_SECS
    } else {
        linger_secs
    };

    let backend = match args.backend.as_deref().or(f.backend.as_deref()) {
        None => Backend::Gateway,
        Some(b) => Backend::parse(b)
            .with_context(|| format!("unknown backend {b:?} (gateway, socketio)"))?,
    };

    Ok(ConsoleConfig {
        backend,
        linger_secs,
        alert_bell: f.alert_bell,
        alert_title: f.alert_title,
        url,
        token,
        theme,
        keymap,
        mask_numbers: args.mask_numbers || f.mask_numbers.unwrap_or(false),
        mouse: args.mouse || f.mouse.unwrap_or(false),
        max_fps,
        log_file: args
            .log_file
            .clone()
            .or(f.log_file)
            .or_else(|| args.default_log_file.clone()),
        latency_report: args.latency_report.clone(),
        warnings,
    })
}

/// `~/x` -> `<home>/x` (TOML has no shell to do it).
fn expand_home(p: PathBuf) -> PathBuf {
    let Ok(rest) = p.strip_prefix("~") else {
        return p;
    };
    match directories::BaseDirs::new() {
        Some(b) => b.home_dir().join(rest),
        None => p,
    }
}

enum TokenSource {
    Literal(String),
    File(PathBuf),
}

fn read_token_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn precedence_cli_env_file_default() {
        let file = r#"
            [console]
            url = "http://file:1"
            token = "file-token"
            theme = "light"
            mask_numbers = true
            [console.keys]
            take_over = "ctrl+t"
            [gateway]
            anything = "is ignored here"
        "#;
        let args = ConsoleOptions::default();
        let c = resolve(&args, &env_of(&[]), Some(file)).unwrap();
        assert_eq!(c.url, "http://file:1");
        assert_eq!(c.token, "file-token");
        assert!(c.mask_numbers);
        assert_eq!(c.theme, Theme::light());
        assert_eq!(
            c.keymap.describe(super::super::keys::Action::TakeOver),
            "ctrl+t"
        );

        let c = resolve(
            &args,
            &env_of(&[
                ("CALLWATCH_URL", "http://env:2"),
                ("CALLWATCH_TOKEN", "env-token"),
                ("NO_COLOR", "1"),
            ]),
            Some(file),
        )
        .unwrap();
        assert_eq!(c.url, "http://env:2");
        assert_eq!(c.token, "env-token");
        assert!(c.theme.mono, "NO_COLOR beats the file's theme");

        let dir = tempfile::tempdir().unwrap();
        let tf = dir.path().join("tok");
        std::fs::write(&tf, "cli-file-token\n").unwrap();
        let args = ConsoleOptions {
            url: Some("http://cli:3".into()),
            token: Some("env-token".into()), // clap put the env value here
            token_file: Some(tf),
            theme: Some("dark".into()),
            ..Default::default()
        };
        let c = resolve(
            &args,
            &env_of(&[("CALLWATCH_TOKEN", "env-token"), ("NO_COLOR", "1")]),
            Some(file),
        )
        .unwrap();
        assert_eq!(c.url, "http://cli:3");
        assert_eq!(
            c.token, "cli-file-token",
            "a CLI token file beats an env token"
        );
        assert_eq!(c.theme, Theme::dark(), "--theme beats NO_COLOR");

        let c = resolve(
            &ConsoleOptions {
                token: Some("t".into()),
                ..Default::default()
            },
            &env_of(&[]),
            None,
        )
        .unwrap();
        assert_eq!(c.url, DEFAULT_URL);
        assert_eq!(c.max_fps, DEFAULT_MAX_FPS);
        assert!(!c.mouse);
    }

    #[test]
    fn the_example_config_is_valid_and_quiet() {
        let text = include_str!("../../config.example.toml");
        let c = resolve(
            &ConsoleOptions::default(),
            &env_of(&[("CALLWATCH_TOKEN", "t")]),
            Some(text),
        )
        .unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.url, DEFAULT_URL);
        assert_eq!(expand_home(PathBuf::from("/abs")), PathBuf::from("/abs"));
    }

    #[test]
    fn mistakes_are_clear() {
        let none = ConsoleOptions::default();
        let err = resolve(&none, &env_of(&[]), None).unwrap_err();
        assert!(err.to_string().contains("no API token"));
        let err = resolve(&none, &env_of(&[]), Some("[console]\nurll = 1")).unwrap_err();
        assert!(format!("{err:#}").contains("urll"), "{err:#}");
        let c = resolve(
            &none,
            &env_of(&[]),
            Some("[console]\ntoken='x'\nmax_fps=0\n[console.keys]\npause_ai='t'"),
        )
        .unwrap();
        assert_eq!(c.max_fps, DEFAULT_MAX_FPS);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    }

    #[test]
    fn the_backend_comes_from_the_command_line_or_the_file() {
        let opts = |b: Option<&str>| ConsoleOptions {
            token: Some("t".into()),
            backend: b.map(String::from),
            ..Default::default()
        };
        let env = env_of(&[]);
        let file = "[console]\nbackend = \"socketio\"\n";
        assert_eq!(
            resolve(&opts(None), &env, None).unwrap().backend,
            Backend::Gateway
        );
        assert_eq!(
            resolve(&opts(None), &env, Some(file)).unwrap().backend,
            Backend::SocketIo
        );
        let c = resolve(&opts(Some("gateway")), &env, Some(file)).unwrap();
        assert_eq!(c.backend, Backend::Gateway, "the command line wins");
        let err = resolve(&opts(Some("grpc")), &env, None).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown backend \"grpc\""),
            "{err:#}"
        );
    }
}
