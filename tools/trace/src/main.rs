// SPDX-License-Identifier: GPL-2.0

//! simnic-trace: timeline figures of the I/O models from real traces.
//!
//! ```text
//! simnic-trace models                       # the models, one per line
//! simnic-trace record MODEL... [-o FILE]    # in the guest: run, trace
//! simnic-trace render FILE... --out-dir DIR # on the host: SVG + JSON
//! ```
//!
//! Documentation/tracing.rst, "Timeline figures"; `tools/trace/figures`
//! does both for every model.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use simnic_trace::{
    caption, chrome, figure_name, meta, models, record, snippet, split, svg, timeline,
};

/// Timeline figures of the I/O models, from real traces.
#[derive(Debug, Parser)]
#[command(name = "simnic-trace", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List the models that have a figure.
    Models,
    /// In the guest: run each model's sample for one datagram with the
    /// trace events on, and write the traces, one after the other.
    Record {
        /// Models to record (see `simnic-trace models`).
        #[arg(required = true)]
        models: Vec<String>,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Name the figure this instead of after the model (for a second
        /// figure of one model, with other module parameters).
        #[arg(long)]
        figure: Option<String>,
    },
    /// On the host: draw each trace of each FILE as DIR/NAME.svg and
    /// DIR/NAME.json, and keep the part the figure needs as DIR/NAME.trace.
    Render {
        /// Recorded traces (several may be in one file), or snippets.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where the figures go.
        #[arg(long, default_value = "Documentation/figures")]
        out_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Models => {
            for m in models::MODELS {
                println!("{}", m.name);
            }
            Ok(())
        }
        Cmd::Record {
            models: names,
            output,
            figure,
        } => record_all(&names, output, figure),
        Cmd::Render { files, out_dir } => render_all(&files, &out_dir),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("simnic-trace: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn record_all(
    names: &[String],
    output: Option<PathBuf>,
    figure: Option<String>,
) -> Result<(), String> {
    let chosen = names
        .iter()
        .map(|n| {
            models::find(n)
                .ok_or_else(|| format!("unknown model {n:?} (see `simnic-trace models`)"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if figure.is_some() && chosen.len() > 1 {
        return Err("--figure names one model's figure".into());
    }
    // simnic-selftest --no-tracefs sets it: the guest's vCPUs may run in
    // parallel there, where turning tracepoints on can oops the guest
    // (Documentation/testing.rst, "Two boots").
    if std::env::var_os("SIMNIC_NO_TRACEFS").is_some() {
        return Err("SIMNIC_NO_TRACEFS is set: recording turns tracepoints on, \
                    which this guest must not (Documentation/testing.rst, \"Two boots\")"
            .into());
    }
    let mut out: Box<dyn Write> = match &output {
        Some(p) => Box::new(fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => Box::new(io::stdout().lock()),
    };
    for m in chosen {
        record::record(m, figure.as_deref().unwrap_or(m.name), &mut out)?;
    }
    out.flush().map_err(|e| e.to_string())
}

fn render_all(files: &[PathBuf], dir: &PathBuf) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for f in files {
        let text = fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        for trace in split(&text) {
            let name = figure_name(trace)?;
            let snip = snippet(trace).map_err(|e| format!("{} ({name}): {e}", f.display()))?;
            let t = timeline(&snip).map_err(|e| format!("{} ({name}): {e}", f.display()))?;
            let command = meta(&snip, "command").unwrap_or("?");
            let put = |ext: &str, body: &str| -> Result<(), String> {
                let p = dir.join(format!("{name}.{ext}"));
                fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))?;
                println!("wrote {}", p.display());
                Ok(())
            };
            put("trace", &snip)?;
            put("svg", &svg::render(&t, &caption(&snip)))?;
            let json =
                serde_json::to_string(&chrome::render(&t, command)).map_err(|e| e.to_string())?;
            put("json", &(json + "\n"))?;
        }
    }
    Ok(())
}
