//! coturn (Debian's `turnserver`) on the lab's internet, configured as the README's "Deploying
//! with coturn" section says: TURN REST credentials (`use-auth-secret`), UDP and TCP on 3478,
//! on both address families, relaying to both.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::lab::{Lab, INET_V4, INET_V6};

/// coturn's port for STUN and TURN over UDP and TCP.
pub const TURN_PORT: u16 = 3478;

/// A running coturn, killed on drop.
#[derive(Debug)]
pub struct Coturn {
    _child: tokio::process::Child,
    pub secret: String,
    log: PathBuf,
}

impl Coturn {
    /// Starts coturn in namespace `ns` and waits until its listeners are open.
    pub async fn start(lab: &Lab, ns: &str, dir: &Path) -> anyhow::Result<Coturn> {
        let turnserver = Path::new("/usr/bin/turnserver");
        if !turnserver.exists() {
            bail!("the NAT lab needs coturn (Debian package `coturn`)");
        }
        // coturn's static-auth-secret, shared with the lab's server only (at least 16
        // characters, as the server requires).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let secret = format!("ringwire-lab-{nanos:x}-{:x}", std::process::id());
        let log = dir.join("turnserver.log");
        let config = format!(
            "listening-ip={INET_V4}\nlistening-ip={INET_V6}\nrelay-ip={INET_V4}\nrelay-ip={INET_V6}\n\
             listening-port={TURN_PORT}\nmin-port=49152\nmax-port=65535\n\
             use-auth-secret\nstatic-auth-secret={secret}\nrealm=ringwire.lab\n\
             no-cli\nno-tls\nno-dtls\nfingerprint\nuserdb={db}\npidfile={pid}\n\
             log-file=stdout\nsimple-log\nverbose\n",
            db = dir.join("turndb").display(),
            pid = dir.join("turnserver.pid").display(),
        );
        let conf = dir.join("turnserver.conf");
        std::fs::write(&conf, config).context("writing turnserver.conf")?;
        let out = std::fs::File::create(&log)?;
        let child = lab
            .command(ns, turnserver)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting turnserver")?;
        let coturn = Coturn {
            _child: child,
            secret,
            log,
        };
        coturn.wait_listening(lab, ns).await?;
        Ok(coturn)
    }

    /// Waits until coturn's TCP listener shows in `ss` inside the namespace (its UDP
    /// listeners open in the same pass; this coturn logs neither).
    async fn wait_listening(&self, lab: &Lab, ns: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let wanted = format!("{INET_V4}:{TURN_PORT}");
        loop {
            let listening = lab
                .command(ns, "ss")
                .args(["-ltnH"])
                .output()
                .await
                .map(|o| String::from_utf8_lossy(&o.stdout).contains(&wanted))
                .unwrap_or(false);
            if listening {
                return Ok(());
            }
            if Instant::now() > deadline {
                let text = std::fs::read_to_string(&self.log).unwrap_or_default();
                bail!(
                    "turnserver did not listen on {wanted} within 15 s; its log:\n{}",
                    text.lines().rev().take(20).collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
