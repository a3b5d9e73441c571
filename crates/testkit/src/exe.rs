//! Where the `ringwire` binary is, for labs that run it as a separate process (the NAT lab's
//! phones and servers in network namespaces, the signaling benchmark's server): the one the
//! caller names, or the one built beside the running executable.

use std::path::PathBuf;

use anyhow::{bail, Context};

/// `RINGWIRE_BIN` when set; otherwise `ringwire` in the running executable's directory or its
/// parent (a test binary runs from `target/<profile>/deps`, the bench from `target/<profile>`).
pub fn ringwire_exe() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("RINGWIRE_BIN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("RINGWIRE_BIN names {}, which is not a file", path.display());
        }
        return Ok(path);
    }
    let me = std::env::current_exe().context("finding the running executable")?;
    let name = format!("ringwire{}", std::env::consts::EXE_SUFFIX);
    let here = me.parent();
    let candidates = [here, here.and_then(|d| d.parent())];
    for dir in candidates.into_iter().flatten() {
        let path = dir.join(&name);
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!(
        "no `ringwire` binary beside {}: build it in the same profile \
         (`cargo build --release -p ringwire-cli`) or set RINGWIRE_BIN",
        me.display()
    )
}
