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
    if let Some(path) = built_beside_me("ringwire")? {
        return Ok(path);
    }
    let me = std::env::current_exe().context("finding the running executable")?;
    bail!(
        "no `ringwire` binary beside {}: build it in the same profile \
         (`cargo build --release -p ringwire-cli`) or set RINGWIRE_BIN",
        me.display()
    )
}

/// The executable `name` built in the same profile as the running one: in its directory, or
/// in the directory above (a test binary runs from `target/<profile>/deps`). `None` when it is
/// not built.
pub fn built_beside_me(name: &str) -> anyhow::Result<Option<PathBuf>> {
    let me = std::env::current_exe().context("finding the running executable")?;
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let here = me.parent();
    let found = [here, here.and_then(|d| d.parent())]
        .into_iter()
        .flatten()
        .map(|dir| dir.join(&file))
        .find(|path| path.is_file());
    Ok(found)
}
