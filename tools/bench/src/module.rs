//! `--module-params`: reload simnic.ko with other parameters before
//! measuring (`rmmod simnic`, then `insmod $SIMNIC_KO k=v ...`, busybox's
//! applets in the guest), so that two builds or two settings of the module
//! (its hardware execution models, a budget) can be compared run by run.
//! Nothing here knows any parameter by name: whatever the module accepts
//! goes, and the report lists what `/sys/module/simnic/parameters/` shows.

use std::io;
use std::process::Command;

/// Where tools/vm/run puts the module (`$SIMNIC_KO` in the guest).
const DEFAULT_KO: &str = "/lib/modules/simnic.ko";

/// Splits `"k=v k2=v2"` into its words, each `name=value` with a name of
/// letters, digits and underscores (a module parameter's), and a value
/// without whitespace; anything else is `InvalidInput`. An empty string
/// gives no words.
pub fn parse(spec: &str) -> io::Result<Vec<String>> {
    spec.split_whitespace()
        .map(|w| {
            let ok = match w.split_once('=') {
                Some((k, v)) => {
                    !k.is_empty()
                        && !v.is_empty()
                        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                }
                None => false,
            };
            if ok {
                Ok(w.to_string())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("--module-params: '{w}' is not name=value"),
                ))
            }
        })
        .collect()
}

/// Runs `cmd`, failing with its output when it exits non-zero.
fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{cmd:?}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let mut msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if msg.is_empty() {
        msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Err(io::Error::other(format!(
        "{cmd:?} failed ({}): {msg}",
        out.status
    )))
}

/// Unloads simnic and loads `$SIMNIC_KO` (default /lib/modules/simnic.ko)
/// with `params`; then checks that each parameter given reads back from
/// sysfs, and returns the ones that read back differently (a value the
/// module normalises, or a parameter sysfs does not show), as
/// (word given, what sysfs shows).
pub fn reload(params: &[String]) -> io::Result<Vec<(String, String)>> {
    let ko = std::env::var("SIMNIC_KO").unwrap_or_else(|_| DEFAULT_KO.to_string());
    // Not loaded is fine: the run may have been started with --no-load.
    if std::path::Path::new("/sys/module/simnic").exists() {
        run(Command::new("rmmod").arg("simnic"))?;
    }
    run(Command::new("insmod").arg(&ko).args(params))?;
    let shown = crate::sys::module_params();
    Ok(params
        .iter()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            match shown.iter().find(|(n, _)| n == k) {
                Some((_, got)) if got == v => None,
                Some((_, got)) => Some((w.clone(), got.clone())),
                None => Some((
                    w.clone(),
                    "no such parameter (ignored by the module?)".into(),
                )),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_name_value_words() {
        assert_eq!(
            parse("  budget=32\thw_inline=1 ").unwrap(),
            ["budget=32", "hw_inline=1"]
        );
        assert!(parse("").unwrap().is_empty());
        for bad in ["budget", "=3", "budget=", "bud-get=1", "a=1 ;rm=x", "x=1 y"] {
            assert!(parse(bad).is_err(), "{bad} accepted");
        }
    }
}
