//! Progress reporting of pulls: indicatif bars on a terminal, plain lines otherwise, nothing
//! when quiet.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal and `CI` is unset, plain lines otherwise.
    #[default]
    Auto,
    /// Always bars.
    Bars,
    /// One line per image pulled, on stderr.
    Plain,
    /// Nothing.
    Quiet,
}

/// The progress sink shared by concurrent pulls.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    mode: ProgressMode,
    multi: Option<MultiProgress>,
}

impl Progress {
    pub(crate) fn new(mode: ProgressMode) -> Self {
        let mode = match mode {
            ProgressMode::Auto => {
                if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
                    ProgressMode::Bars
                } else {
                    ProgressMode::Plain
                }
            }
            m => m,
        };
        let multi = (mode == ProgressMode::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { mode, multi }
    }

    /// Announces a pull of `name`; returns a handle that counts its bytes.
    pub(crate) fn image(&self, name: &str) -> ImageProgress {
        match (&self.mode, &self.multi) {
            (ProgressMode::Bars, Some(multi)) => {
                let bar = multi.add(ProgressBar::new(0));
                let style = ProgressStyle::with_template(
                    "{prefix:>12.cyan.bold} {msg} [{bar:30}] {bytes}/{total_bytes}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix("Pulling");
                bar.set_message(name.to_string());
                bar.enable_steady_tick(Duration::from_millis(200));
                ImageProgress {
                    bar: Some(bar),
                    name: name.to_string(),
                    plain: false,
                }
            }
            (ProgressMode::Plain, _) => {
                eprintln!("     Pulling {name}");
                ImageProgress {
                    bar: None,
                    name: name.to_string(),
                    plain: true,
                }
            }
            _ => ImageProgress {
                bar: None,
                name: name.to_string(),
                plain: false,
            },
        }
    }

    /// A one-off status line (`Pushing x`, `Imported y`).
    pub(crate) fn status(&self, verb: &str, what: &str) {
        match (&self.mode, &self.multi) {
            (ProgressMode::Bars, Some(m)) => {
                let _ = m.println(format!("{verb:>12} {what}"));
            }
            (ProgressMode::Plain, _) => eprintln!("{verb:>12} {what}"),
            _ => {}
        }
    }
}

/// Progress of one image pull.
#[derive(Debug)]
pub(crate) struct ImageProgress {
    bar: Option<ProgressBar>,
    name: String,
    plain: bool,
}

impl ImageProgress {
    pub(crate) fn add_total(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc_length(bytes);
        }
    }

    pub(crate) fn inc(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    pub(crate) fn done(&self, digest: &str) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if self.plain {
            eprintln!("      Pulled {} ({digest})", self.name);
        }
    }
}

impl Drop for ImageProgress {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            if !b.is_finished() {
                b.abandon();
            }
        }
    }
}
