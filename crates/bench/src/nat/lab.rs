//! The NAT lab: a closed network of Linux network namespaces built with `ip` and `nft`. One
//! "internet" namespace holds the signaling server and coturn on a bridge; each home network
//! is a host namespace behind its own router namespace, whose `nft` rules make it a NAT of one
//! kind (cone, symmetric, TCP-only, an IPv6 stateful firewall, or NAT64 with DNS64). No
//! namespace has a link to the root namespace, so nothing in the lab can reach the machine's
//! real interfaces, and a candidate naming a real address is never a target. Addresses come
//! from the benchmarking ranges 198.18.0.0/15 and 2001:2::/48. Like the real internet, the
//! internet namespace silently drops what it cannot route (its default route leads into a
//! veth pair whose far end, inside the same namespace, discards frames for a MAC nobody has), so a packet to a private address of another home is lost,
//! not refused: coturn ends an allocation whose relayed send fails with "network unreachable",
//! which no real network would make it do. Everything is removed on drop,
//! and namespaces left by a lab whose process died are removed when the next lab starts.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{anyhow, bail, Context};

/// The internet namespace's address: where the server and coturn listen.
pub const INET_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The same on IPv6.
pub const INET_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
/// The names the lab's DNS gives the internet namespace (resolved through `/etc/hosts` in the
/// IPv4 networks and through DNS64 in the NAT64 network).
pub const SERVER_NAME: &str = "signal.ringwire.lab";
pub const TURN_NAME: &str = "turn.ringwire.lab";
/// The NAT64 network's prefix, which its DNS64 synthesises into. A network-specific prefix,
/// not the well-known 64:ff9b::/96: RFC 6052 §3.1 forbids translating non-global IPv4
/// addresses (the lab's benchmarking range) with the well-known prefix, and tayga enforces it.
/// Devices never see the difference: they learn addresses only through DNS64.
const NAT64_PREFIX: &str = "2001:2:0:64::/96";

const NAMESPACE_PREFIX: &str = "rwlab";

/// What kind of network a home is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetKind {
    /// IPv4 behind a NAT with endpoint-independent mapping (nft `masquerade`, which keeps the
    /// inside port) and address-and-port-dependent filtering: a home router.
    Cone,
    /// IPv4 behind a NAT that maps every flow to a new random port (`masquerade fully-random`):
    /// carrier-grade NATs and many corporate firewalls.
    Symmetric,
    /// IPv4 behind a cone NAT whose firewall lets only TCP out (hotel and corporate Wi-Fi).
    TcpOnly,
    /// IPv6 only, global addresses with no NAT, behind a stateful firewall that admits only
    /// flows started from inside.
    Ipv6Firewall,
    /// IPv6 only, reaching IPv4 through NAT64 (`tayga`) and DNS64 (`unbound`), as in Apple's
    /// app-review network; the translated IPv4 leaves through a cone NAT.
    Nat64,
}

impl NetKind {
    pub fn label(self) -> &'static str {
        match self {
            NetKind::Cone => "cone NAT",
            NetKind::Symmetric => "symmetric NAT",
            NetKind::TcpOnly => "TCP-only",
            NetKind::Ipv6Firewall => "IPv6 firewall",
            NetKind::Nat64 => "IPv6-only NAT64/DNS64",
        }
    }

    fn has_ipv4(self) -> bool {
        matches!(self, NetKind::Cone | NetKind::Symmetric | NetKind::TcpOnly)
    }
}

/// One home network: a host behind a router.
#[derive(Debug, Clone)]
pub struct Network {
    pub kind: NetKind,
    /// The namespace the device (softphone or browser) runs in.
    pub host: String,
    /// The device's interface on this network.
    pub host_if: String,
    /// The host's own addresses.
    pub host_v4: Option<Ipv4Addr>,
}

impl Network {
    /// How a device on this network names the signaling server: a literal address on IPv4
    /// and IPv6 networks, the name (so DNS64 synthesises it) on NAT64.
    pub fn server_url(&self, port: u16) -> String {
        match self.kind {
            NetKind::Nat64 => format!("http://{SERVER_NAME}:{port}"),
            NetKind::Ipv6Firewall => format!("http://[{INET_V6}]:{port}"),
            _ => format!("http://{INET_V4}:{port}"),
        }
    }
}

/// A running lab; dropped, it removes its namespaces and their files under `/etc/netns`.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    networks: usize,
    /// Daemons (tayga, unbound) started inside routers, killed on drop.
    daemons: Vec<std::process::Child>,
    dir: PathBuf,
}

impl fmt::Debug for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lab")
            .field("prefix", &self.prefix)
            .field("namespaces", &self.namespaces)
            .finish()
    }
}

impl Lab {
    /// Builds the internet namespace. Needs root (network namespaces) and `ip`/`nft`.
    pub fn new(dir: &Path) -> anyhow::Result<Lab> {
        if !rustix::process::geteuid().is_root() {
            bail!("the NAT lab needs root: it builds network namespaces (run as root)");
        }
        for tool in ["ip", "nft"] {
            if which(tool).is_none() {
                bail!("the NAT lab needs `{tool}` (Debian packages iproute2 and nftables)");
            }
        }
        remove_stale_labs();
        let prefix = format!("{NAMESPACE_PREFIX}{}", std::process::id());
        let mut lab = Lab {
            prefix,
            namespaces: Vec::new(),
            networks: 0,
            daemons: Vec::new(),
            dir: dir.to_path_buf(),
        };
        let inet = lab.inet();
        lab.add_namespace(&inet)?;
        lab.sh(
            &inet,
            &format!(
                "ip link set lo up && ip link add br0 type bridge && ip link set br0 up && \
                 ip addr add {INET_V4}/24 dev br0 && ip -6 addr add {INET_V6}/64 dev br0 nodad && \
                 ip link add void type veth peer name void-end && \
                 ip link set void up && ip link set void-end up && \
                 ip addr add 198.18.255.1/30 dev void && ip -6 addr add 2001:2:ffff::1/64 dev void nodad && \
                 ip neigh add 198.18.255.2 lladdr 02:00:00:00:00:01 dev void nud permanent && \
                 ip -6 neigh add 2001:2:ffff::2 lladdr 02:00:00:00:00:01 dev void nud permanent && \
                 ip route add default via 198.18.255.2 dev void && \
                 ip -6 route add default via 2001:2:ffff::2 dev void && \
                 sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"
            ),
        )?;
        lab.start_inet_dns()?;
        Ok(lab)
    }

    /// The internet namespace's name.
    pub fn inet(&self) -> String {
        format!("{}-inet", self.prefix)
    }

    /// Adds a home network of `kind`, with a device (host namespace) on it, and returns it.
    pub fn add_network(&mut self, kind: NetKind) -> anyhow::Result<Network> {
        let host = format!("{}-h{}", self.prefix, self.networks + 1);
        self.add_namespace(&host)?;
        self.sh(&host, "ip link set lo up")?;
        self.add_router(kind, &host, "eth0", true)
    }

    /// Adds a second home network of `kind` that `device`'s host can move to: its router's
    /// LAN link reaches the same host namespace as `eth1`, unaddressed and down until
    /// [`Lab::move_device`].
    pub fn add_network_for(&mut self, device: &Network, kind: NetKind) -> anyhow::Result<Network> {
        if !kind.has_ipv4() || !device.kind.has_ipv4() {
            bail!("moving between networks is built for the IPv4 kinds");
        }
        self.add_router(kind, &device.host, "eth1", false)
    }

    /// Moves a device from network `from` to network `to` (one made by
    /// [`Lab::add_network_for`]) as a phone leaving Wi-Fi for mobile data does: the old link
    /// loses its address and goes down, then the new link comes up with an address and a
    /// default route. Nothing is told to the softphone: it notices the interfaces change.
    pub fn move_device(&self, from: &Network, to: &Network) -> anyhow::Result<()> {
        let (Some(old), Some(new)) = (from.host_v4, to.host_v4) else {
            bail!("moving between networks is built for the IPv4 kinds");
        };
        let router = Ipv4Addr::from(u32::from(new) - 1);
        self.sh(
            &from.host,
            &format!(
                "ip addr del {old}/24 dev {old_if} && ip link set {old_if} down && \
                 ip link set {new_if} up && ip addr add {new}/24 dev {new_if} && \
                 ip route replace default via {router}",
                old_if = from.host_if,
                new_if = to.host_if,
            ),
        )
    }

    /// The direct path between this network's device and every other home goes dark, with no
    /// interface event and nothing refused: from now on the device's UDP reaches only the
    /// lab's internet servers (signaling, STUN, TURN), as when a NAT silently drops a mapping
    /// or a middlebox starts eating a flow. Only consent freshness can notice.
    pub fn cut_direct_paths(&self, net: &Network) -> anyhow::Result<()> {
        self.nft(
            &net.host,
            &format!(
                "table inet pathcut {{\n  \
                 chain out {{\n    type filter hook output priority 0; policy accept;\n    \
                 oifname \"lo\" accept\n    \
                 meta l4proto udp ip daddr != {INET_V4} drop\n    \
                 meta l4proto udp ip6 daddr != {INET_V6} drop\n  }}\n  \
                 chain in {{\n    type filter hook input priority 0; policy accept;\n    \
                 iifname \"lo\" accept\n    \
                 meta l4proto udp ip saddr != {INET_V4} drop\n    \
                 meta l4proto udp ip6 saddr != {INET_V6} drop\n  }}\n}}\n"
            ),
        )
    }

    /// A router namespace of `kind` on the internet bridge, with its LAN link into `host`
    /// named `host_if`; `attach` addresses the host's side and routes through it.
    fn add_router(
        &mut self,
        kind: NetKind,
        host: &str,
        host_if: &str,
        attach: bool,
    ) -> anyhow::Result<Network> {
        self.networks += 1;
        let k = self.networks;
        // LANs take 198.19.k.0/24; 198.19.200.0/24 and up are NAT64 pools.
        if k >= 200 {
            bail!("the lab holds at most 199 networks");
        }
        let router = format!("{}-r{k}", self.prefix);
        let inet = self.inet();
        self.add_namespace(&router)?;
        // Links are created inside the namespaces (never in the root namespace).
        run(
            "ip",
            &[
                "-n",
                &router,
                "link",
                "add",
                "wan",
                "type",
                "veth",
                "peer",
                "name",
                &format!("r{k}"),
                "netns",
                &inet,
            ],
        )?;
        run(
            "ip",
            &[
                "-n", &router, "link", "add", "lan", "type", "veth", "peer", "name", host_if,
                "netns", host,
            ],
        )?;
        self.sh(
            &inet,
            &format!("ip link set r{k} master br0 && ip link set r{k} up"),
        )?;
        let wan_v4 = Ipv4Addr::new(198, 18, 0, 10 + k as u8);
        let wan_v6: Ipv6Addr = format!("2001:2::{:x}", 0x100 + k).parse()?;
        let lan_v4_router = Ipv4Addr::new(198, 19, k as u8, 1);
        let lan_v4_host = Ipv4Addr::new(198, 19, k as u8, 2);
        let lan_v6_router: Ipv6Addr = format!("2001:2:0:{:x}::1", 0x100 + k).parse()?;
        let lan_v6_host: Ipv6Addr = format!("2001:2:0:{:x}::2", 0x100 + k).parse()?;
        // Router: WAN on the internet bridge, both families; LAN towards the host.
        self.sh(
            &router,
            &format!(
                "ip link set lo up && ip link set wan up && ip link set lan up && \
                 ip addr add {wan_v4}/24 dev wan && ip -6 addr add {wan_v6}/64 dev wan nodad && \
                 ip route add default via {INET_V4} && ip -6 route add default via {INET_V6} && \
                 sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"
            ),
        )?;
        let mut host_v4 = None;
        if kind.has_ipv4() {
            self.sh(&router, &format!("ip addr add {lan_v4_router}/24 dev lan"))?;
            if attach {
                self.sh(
                    host,
                    &format!(
                        "ip link set {host_if} up && ip addr add {lan_v4_host}/24 dev {host_if} && \
                         ip route add default via {lan_v4_router}"
                    ),
                )?;
            }
            host_v4 = Some(lan_v4_host);
        } else {
            self.sh(
                &router,
                &format!("ip -6 addr add {lan_v6_router}/64 dev lan nodad"),
            )?;
            self.sh(
                host,
                &format!(
                    "ip link set {host_if} up && ip -6 addr add {lan_v6_host}/64 dev {host_if} nodad && \
                     ip -6 route add default via {lan_v6_router}"
                ),
            )?;
            // The internet routes the home's IPv6 prefix to its router (no NAT on IPv6).
            self.sh(
                &inet,
                &format!("ip -6 route add 2001:2:0:{:x}::/64 via {wan_v6}", 0x100 + k),
            )?;
        }
        self.nft(&router, &router_rules(kind))?;
        if kind == NetKind::Nat64 {
            self.start_nat64(&router, k, lan_v6_router)?;
        }
        if attach {
            self.write_dns(host, kind, lan_v6_router)?;
        }
        Ok(Network {
            kind,
            host: host.to_string(),
            host_if: host_if.to_string(),
            host_v4,
        })
    }

    /// A command that runs `program` inside namespace `ns`.
    pub fn command(
        &self,
        ns: &str,
        program: impl AsRef<std::ffi::OsStr>,
    ) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program);
        command.kill_on_drop(true);
        command
    }

    fn add_namespace(&mut self, name: &str) -> anyhow::Result<()> {
        run("ip", &["netns", "add", name])?;
        self.namespaces.push(name.to_string());
        Ok(())
    }

    fn sh(&self, ns: &str, script: &str) -> anyhow::Result<()> {
        run("ip", &["netns", "exec", ns, "sh", "-ec", script])
    }

    fn nft(&self, ns: &str, ruleset: &str) -> anyhow::Result<()> {
        let file = self.dir.join(format!("{ns}.nft"));
        std::fs::write(&file, ruleset).context("writing nft rules")?;
        run(
            "ip",
            &["netns", "exec", ns, "nft", "-f", &file.to_string_lossy()],
        )
    }

    /// `ip netns exec` bind-mounts `/etc/netns/NS/*` over `/etc`: each host gets its own
    /// hosts file (the lab's names) or, on NAT64, a resolver that is the router's DNS64.
    fn write_dns(&self, host: &str, kind: NetKind, router_v6: Ipv6Addr) -> anyhow::Result<()> {
        let dir = Path::new("/etc/netns").join(host);
        std::fs::create_dir_all(&dir).context("creating /etc/netns")?;
        let hosts = match kind {
            NetKind::Nat64 => "127.0.0.1 localhost\n::1 localhost\n".to_string(),
            NetKind::Ipv6Firewall => {
                format!("127.0.0.1 localhost\n::1 localhost\n{INET_V6} {SERVER_NAME} {TURN_NAME}\n")
            }
            _ => {
                format!("127.0.0.1 localhost\n::1 localhost\n{INET_V4} {SERVER_NAME} {TURN_NAME}\n")
            }
        };
        std::fs::write(dir.join("hosts"), hosts)?;
        let resolv = match kind {
            NetKind::Nat64 => format!("nameserver {router_v6}\noptions timeout:1 attempts:2\n"),
            NetKind::Cone | NetKind::Symmetric => {
                format!("nameserver {INET_V4}\noptions timeout:1 attempts:2\n")
            }
            NetKind::Ipv6Firewall => {
                format!("nameserver {INET_V6}\noptions timeout:1 attempts:2\n")
            }
            // DNS over UDP cannot leave; the hosts file names everything the lab uses.
            NetKind::TcpOnly => "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n".to_string(),
        };
        std::fs::write(dir.join("resolv.conf"), resolv)?;
        Ok(())
    }

    /// The internet's DNS server (unbound) for the lab's names, A and AAAA, for the homes
    /// that have UDP out. Their hosts files name the servers too (enough for the softphone),
    /// but Chromium's WebRTC resolves STUN/TURN names through DNS only: without a server it
    /// gathers no server-reflexive and no UDP relay candidate.
    fn start_inet_dns(&mut self) -> anyhow::Result<()> {
        if which("unbound").is_none() && !Path::new("/usr/sbin/unbound").exists() {
            bail!("the NAT lab needs `unbound` (Debian package unbound)");
        }
        let dir = self.dir.join("inet-dns");
        std::fs::create_dir_all(&dir)?;
        let inet = self.inet();
        self.start_unbound(
            &inet,
            &dir,
            &format!(
                "  interface: {INET_V4}\n  interface: {INET_V6}\n\
                 \x20 access-control: 0.0.0.0/0 allow\n  access-control: ::/0 allow\n"
            ),
            &format!("signal IN AAAA {INET_V6}\nturn IN AAAA {INET_V6}\n"),
            Answer::Directly,
        )
    }

    /// tayga translates 64:ff9b::/96 to a private IPv4 pool that the router then masquerades
    /// onto its WAN; unbound answers the host's queries, synthesising AAAA records from the
    /// lab zone's A records (the zone is served "upstream" so the dns64 module sees it).
    fn start_nat64(&mut self, router: &str, k: usize, router_v6: Ipv6Addr) -> anyhow::Result<()> {
        for tool in ["tayga", "unbound"] {
            if which(tool).is_none() && !Path::new(&format!("/usr/sbin/{tool}")).exists() {
                bail!("the NAT64 network needs `{tool}` (Debian package {tool})");
            }
        }
        let dir = self.dir.join(format!("nat64-{k}"));
        std::fs::create_dir_all(&dir)?;
        let tayga_v4 = Ipv4Addr::new(198, 19, 200 + (k % 50) as u8, 1);
        let pool = format!("198.19.{}.0/24", 200 + (k % 50));
        // tayga's own IPv6 address (for the ICMPv6 it sends), routed into its tunnel.
        let tayga_v6 = format!("2001:2:0:ff{k:02x}::1");
        let tayga_conf = dir.join("tayga.conf");
        std::fs::write(
            &tayga_conf,
            format!(
                "tun-device nat64\nipv4-addr {tayga_v4}\nipv6-addr {tayga_v6}\n\
                 prefix {NAT64_PREFIX}\ndynamic-pool {pool}\ndata-dir {}\n",
                dir.display()
            ),
        )?;
        let conf = tayga_conf.to_string_lossy().to_string();
        self.sh(
            router,
            &format!(
                "tayga --config {conf} --mktun && ip link set nat64 up && \
                 ip route add {pool} dev nat64 && ip -6 route add {NAT64_PREFIX} dev nat64 && \
                 ip -6 route add {tayga_v6}/128 dev nat64"
            ),
        )?;
        let tayga = std::process::Command::new("ip")
            .args(["netns", "exec", router, "tayga", "--config", &conf, "-d"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("tayga.log"))?)
            .spawn()
            .context("starting tayga")?;
        self.daemons.push(tayga);
        self.start_unbound(
            router,
            &dir,
            &format!(
                "  interface: {router_v6}\n  do-ip4: no\n  do-ip6: yes\n\
                 \x20 access-control: ::/0 allow\n\
                 \x20 module-config: \"dns64 iterator\"\n  dns64-prefix: {NAT64_PREFIX}\n\
                 \x20 do-not-query-localhost: no\n"
            ),
            "",
            Answer::ThroughModules,
        )
    }

    /// Serves the lab's zone (the servers' A records and `extra_records`) with unbound in
    /// namespace `ns`, its files under `dir`: the common settings (no chroot, no user switch,
    /// no trust anchor, port 53) plus `listen` (interfaces, access, modules).
    fn start_unbound(
        &mut self,
        ns: &str,
        dir: &Path,
        listen: &str,
        extra_records: &str,
        answer: Answer,
    ) -> anyhow::Result<()> {
        let zone = dir.join("ringwire.lab.zone");
        std::fs::write(
            &zone,
            format!(
                "$ORIGIN ringwire.lab.\n$TTL 60\n\
                 @ IN SOA ns.ringwire.lab. admin.ringwire.lab. 1 3600 600 86400 60\n\
                 @ IN NS ns.ringwire.lab.\nns IN A {INET_V4}\n\
                 signal IN A {INET_V4}\nturn IN A {INET_V4}\n{extra_records}"
            ),
        )?;
        // dns64 does not apply to what an auth-zone answers itself: that zone is served
        // "upstream" so the modules see it.
        let (upstream, downstream) = match answer {
            Answer::Directly => ("no", "yes"),
            Answer::ThroughModules => ("yes", "no"),
        };
        let conf = dir.join("unbound.conf");
        std::fs::write(
            &conf,
            format!(
                "server:\n{listen}  port: 53\n  username: \"\"\n  chroot: \"\"\n\
                 \x20 directory: \"{dir}\"\n  pidfile: \"{dir}/unbound.pid\"\n\
                 \x20 use-syslog: no\n  logfile: \"{dir}/unbound.log\"\n\
                 \x20 auto-trust-anchor-file: \"\"\n\
                 auth-zone:\n  name: \"ringwire.lab.\"\n  zonefile: \"{zone}\"\n\
                 \x20 for-upstream: {upstream}\n  for-downstream: {downstream}\n\
                 \x20 fallback-enabled: no\n",
                dir = dir.display(),
                zone = zone.display(),
            ),
        )?;
        let unbound = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "unbound", "-d", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("unbound.stderr"))?)
            .spawn()
            .with_context(|| format!("starting unbound in {ns}"))?;
        self.daemons.push(unbound);
        Ok(())
    }
}

/// How an unbound answers for the lab's zone.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// From the zone, as it is.
    Directly,
    /// Through its modules (dns64 synthesises AAAA records from the zone's A records).
    ThroughModules,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for daemon in &mut self.daemons {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
        for ns in self.namespaces.iter().rev() {
            remove_namespace(ns);
        }
    }
}

/// The router's ruleset for a network kind.
fn router_rules(kind: NetKind) -> String {
    // Inbound is admitted only for flows started inside (a NAT's or firewall's state); what
    // may leave depends on the kind.
    let outbound = match kind {
        NetKind::TcpOnly => "iifname \"lan\" meta l4proto tcp accept",
        // Translated packets enter from the tayga tunnel, not the LAN.
        NetKind::Nat64 => "iifname { \"lan\", \"nat64\" } accept",
        _ => "iifname \"lan\" accept",
    };
    // The router itself takes nothing unsolicited from the WAN, as home routers do. Dropped,
    // such a packet leaves no conntrack entry behind; accepted (and answered with a port
    // unreachable), its entry would claim the very port the NAT maps the host's reply to,
    // and the mapping would move: hole punching between two cone NATs would fail.
    let forward = format!(
        "table inet filter {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    \
         iifname \"wan\" ct state new drop\n  }}\n  \
         chain forward {{\n    type filter hook forward priority 0; policy drop;\n    \
         ct state established,related accept\n    {outbound}\n  }}\n}}\n"
    );
    let masquerade = match kind {
        NetKind::Cone | NetKind::TcpOnly | NetKind::Nat64 => "masquerade",
        NetKind::Symmetric => "masquerade fully-random",
        NetKind::Ipv6Firewall => return forward,
    };
    let nat = format!(
        "table ip nat {{\n  chain post {{\n    type nat hook postrouting priority 100;\n    \
         oifname \"wan\" {masquerade}\n  }}\n}}\n"
    );
    format!("{forward}{nat}")
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        return Err(anyhow!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

fn remove_namespace(ns: &str) {
    let _ = std::process::Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|out| {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = std::process::Command::new("kill")
                    .args(["-9", pid])
                    .status();
            }
        });
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", ns])
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(ns));
}

/// Namespaces of labs whose process is gone (killed mid-run) are removed.
fn remove_stale_labs() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(NAMESPACE_PREFIX) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('-') else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .map(|p| Path::new(&format!("/proc/{p}")).exists())
            .unwrap_or(false);
        if !alive {
            remove_namespace(&name);
        }
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|p| p.join(tool))
            .find(|p| p.exists())
    })
}
