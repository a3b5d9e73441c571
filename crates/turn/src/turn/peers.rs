//! The TURN client's peer table: permissions by peer IP (RFC 8656 §9, 300 s lifetime, refreshed
//! every 4 minutes) and channel bindings by peer address (§12, 600 s, refreshed every 9
//! minutes), each wanted → pending → installed, and the channel-number map for incoming
//! ChannelData.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::channel::{MAX_CHANNEL, MIN_CHANNEL};
use crate::Error;

/// A permission is refreshed this long after it was installed (its lifetime is 300 s).
pub const PERMISSION_REFRESH: Duration = Duration::from_secs(240);
/// A channel binding is refreshed this long after it was bound (its lifetime is 600 s).
pub const CHANNEL_REFRESH: Duration = Duration::from_secs(540);

/// Where one permission or binding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Install {
    /// Asked for; the request goes out once the allocation exists.
    Wanted,
    /// A request is in flight (first install or refresh).
    Pending,
    /// Installed on the server; refresh at the instant.
    Installed(Instant),
}

#[derive(Debug)]
struct Entry {
    install: Install,
    /// Installed at least once, so a refresh in flight does not stop the data path.
    usable: bool,
}

/// A request the table wants sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// CreatePermission for this IP.
    Permission(IpAddr),
    /// ChannelBind of this number to this peer.
    Channel(SocketAddr, u16),
}

#[derive(Debug, Default)]
pub(crate) struct Peers {
    permissions: HashMap<IpAddr, Entry>,
    channels: HashMap<SocketAddr, (u16, Entry)>,
    by_number: HashMap<u16, SocketAddr>,
    /// Numbers are never reused by one client (RFC 8656 §12: not for 5 minutes after expiry).
    next_number: u16,
}

impl Peers {
    /// Asks for a permission; false if it is already wanted or installed.
    pub(crate) fn want_permission(&mut self, ip: IpAddr) -> bool {
        if self.permissions.contains_key(&ip) {
            return false;
        }
        let entry = Entry {
            install: Install::Wanted,
            usable: false,
        };
        self.permissions.insert(ip, entry);
        true
    }

    /// Asks for a channel to `peer`; its number, new or existing.
    pub(crate) fn want_channel(&mut self, peer: SocketAddr) -> Result<u16, Error> {
        if let Some((number, _)) = self.channels.get(&peer) {
            return Ok(*number);
        }
        let number = MIN_CHANNEL + self.next_number;
        if number > MAX_CHANNEL {
            return Err(Error::ChannelsExhausted(peer));
        }
        self.next_number += 1;
        let entry = Entry {
            install: Install::Wanted,
            usable: false,
        };
        self.channels.insert(peer, (number, entry));
        self.by_number.insert(number, peer);
        Ok(number)
    }

    /// Requests due at `now` (wanted ones, and refreshes), now marked pending.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Due> {
        let due = |e: &Entry| match e.install {
            Install::Wanted => true,
            Install::Pending => false,
            Install::Installed(at) => now >= at,
        };
        let mut out = Vec::new();
        for (ip, entry) in self.permissions.iter_mut().filter(|(_, e)| due(e)) {
            entry.install = Install::Pending;
            out.push(Due::Permission(*ip));
        }
        for (peer, (number, entry)) in self.channels.iter_mut().filter(|(_, (_, e))| due(e)) {
            entry.install = Install::Pending;
            out.push(Due::Channel(*peer, *number));
        }
        // HashMap order is random: sort so the same inputs give the same bytes out.
        out.sort_by_key(|d| match d {
            Due::Permission(ip) => (0, SocketAddr::new(*ip, 0), 0),
            Due::Channel(peer, n) => (1, *peer, *n),
        });
        out
    }

    /// The earliest refresh instant.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        let permissions = self.permissions.values().map(|e| &e.install);
        let channels = self.channels.values().map(|(_, e)| &e.install);
        permissions
            .chain(channels)
            .filter_map(|i| match i {
                Install::Installed(at) => Some(*at),
                Install::Wanted | Install::Pending => None,
            })
            .min()
    }

    /// CreatePermission succeeded; true the first time.
    pub(crate) fn permission_ok(&mut self, ip: IpAddr, now: Instant) -> bool {
        let Some(entry) = self.permissions.get_mut(&ip) else {
            return false;
        };
        entry.install = Install::Installed(now + PERMISSION_REFRESH);
        !std::mem::replace(&mut entry.usable, true)
    }

    /// CreatePermission failed: the permission is dropped.
    pub(crate) fn permission_failed(&mut self, ip: IpAddr) {
        self.permissions.remove(&ip);
    }

    /// ChannelBind succeeded; true the first time.
    pub(crate) fn channel_ok(&mut self, peer: SocketAddr, now: Instant) -> bool {
        let Some((_, entry)) = self.channels.get_mut(&peer) else {
            return false;
        };
        entry.install = Install::Installed(now + CHANNEL_REFRESH);
        !std::mem::replace(&mut entry.usable, true)
    }

    /// ChannelBind failed: the binding is dropped (its number is not reused).
    pub(crate) fn channel_failed(&mut self, peer: SocketAddr) {
        if let Some((number, _)) = self.channels.remove(&peer) {
            self.by_number.remove(&number);
        }
    }

    /// The bound channel for `peer`, once usable.
    pub(crate) fn bound_channel(&self, peer: SocketAddr) -> Option<u16> {
        self.channels
            .get(&peer)
            .filter(|(_, e)| e.usable)
            .map(|(n, _)| *n)
    }

    /// Whether data to/from `ip` is allowed: a permission, or a bound channel (ChannelBind
    /// installs the permission too).
    pub(crate) fn has_permission(&self, ip: IpAddr) -> bool {
        self.permissions.get(&ip).is_some_and(|e| e.usable)
            || self
                .channels
                .iter()
                .any(|(peer, (_, e))| peer.ip() == ip && e.usable)
    }

    /// The peer a channel number is bound to (usable bindings only).
    pub(crate) fn peer_for_channel(&self, number: u16) -> Option<SocketAddr> {
        let peer = self.by_number.get(&number)?;
        self.bound_channel(*peer).map(|_| *peer)
    }

    /// Forgets everything (the allocation is gone).
    pub(crate) fn clear(&mut self) {
        self.permissions.clear();
        self.channels.clear();
        self.by_number.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_pending_installed_refresh() {
        let t0 = Instant::now();
        let mut peers = Peers::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let peer = SocketAddr::new(ip, 5000);
        assert!(peers.want_permission(ip));
        assert!(!peers.want_permission(ip));
        assert_eq!(peers.want_channel(peer).unwrap(), 0x4000);
        assert_eq!(peers.want_channel(peer).unwrap(), 0x4000);
        assert_eq!(
            peers.take_due(t0),
            [Due::Permission(ip), Due::Channel(peer, 0x4000)]
        );
        assert!(peers.take_due(t0).is_empty());
        assert!(!peers.has_permission(ip));
        assert!(peers.channel_ok(peer, t0));
        assert!(peers.has_permission(ip));
        assert_eq!(peers.peer_for_channel(0x4000), Some(peer));
        assert!(peers.permission_ok(ip, t0));
        assert_eq!(peers.next_timeout(), Some(t0 + PERMISSION_REFRESH));
        assert_eq!(
            peers.take_due(t0 + PERMISSION_REFRESH),
            [Due::Permission(ip)]
        );
        assert!(
            !peers.permission_ok(ip, t0 + PERMISSION_REFRESH),
            "a refresh is not a new permission"
        );
        peers.channel_failed(peer);
        assert_eq!(peers.peer_for_channel(0x4000), None);
        assert_eq!(
            peers.want_channel(peer).unwrap(),
            0x4001,
            "numbers are not reused"
        );
    }

    #[test]
    fn channel_numbers_run_out() {
        let mut peers = Peers::default();
        for port in 0..4096u16 {
            peers
                .want_channel(SocketAddr::from(([192, 0, 2, 1], port)))
                .unwrap();
        }
        assert!(peers
            .want_channel(SocketAddr::from(([192, 0, 2, 2], 1)))
            .is_err());
    }
}
