//! SSRF guard: which resolved addresses a probe may connect to.
//!
//! The guard runs after name resolution, and the connection then goes to the vetted address
//! itself (never to the name again), so a DNS answer that changes between "check" and "connect"
//! (DNS rebinding) cannot slip a private address through.
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where probes may go. Checks from the operator's config file run with `allow_private = true`;
/// checks a merchant supplied run with the operator's `probe.allow_private_targets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SsrfPolicy {
    /// Allow loopback, private, link-local and other non-public addresses.
    /// Cloud metadata endpoints stay refused even then.
    pub allow_private: bool,
}

/// An address the policy refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked(pub IpAddr);

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocked by SSRF guard: {}", self.0)
    }
}

impl std::error::Error for Blocked {}

impl SsrfPolicy {
    /// `Ok` if a probe may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let allowed = if self.allow_private {
            !is_metadata(ip)
        } else {
            is_public(ip)
        };
        if allowed { Ok(()) } else { Err(Blocked(ip)) }
    }
}

/// Cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS ECS, AWS IPv6): they hand out
/// credentials, so no probe ever reaches them.
pub fn is_metadata(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == Ipv4Addr::new(169, 254, 170, 2)
        }
        IpAddr::V6(v6) => v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    }
}

/// Folds IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) IPv6 addresses to IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.segments() {
            [0, 0, 0, 0, 0, 0xffff, hi, lo] => IpAddr::V4(v4_of(hi, lo)),
            // IPv4-compatible (deprecated); `::` and `::1` stay IPv6.
            [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => IpAddr::V4(v4_of(hi, lo)),
            _ => ip,
        },
        IpAddr::V4(_) => ip,
    }
}

fn v4_of(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

/// Whether `ip` is a globally routable unicast address a public probe may reach.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const BLOCKED: [([u8; 4], u32); 16] = [
        ([0, 0, 0, 0], 8),       // "this network", incl. unspecified
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // carrier-grade NAT
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local, incl. cloud metadata
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation TEST-NET-1
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation TEST-NET-2
        ([203, 0, 113, 0], 24),  // documentation TEST-NET-3
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, incl. broadcast 255.255.255.255
        ([255, 255, 255, 255], 32),
    ];
    !BLOCKED.iter().any(|(net, prefix)| in_v4(ip, *net, *prefix))
}

fn in_v6(ip: Ipv6Addr, net: u128, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (net & mask)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address: judge that one.
    if in_v6(ip, 0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96) {
        return is_public_v4(Ipv4Addr::from(bits as u32));
    }
    if in_v6(ip, 0x2002_0000_0000_0000_0000_0000_0000_0000, 16) {
        return is_public_v4(Ipv4Addr::from((bits >> 80) as u32));
    }
    const BLOCKED: [(u128, u32); 11] = [
        (0, 128),                                        // unspecified
        (1, 128),                                        // loopback
        (0, 96),                                         // IPv4-compatible (the rest of ::/96)
        (0x0064_ff9b_0001_0000_0000_0000_0000_0000, 48), // NAT64 local use
        (0x0100_0000_0000_0000_0000_0000_0000_0000, 64), // discard-only
        (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // documentation
        (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20), // documentation (RFC 9637)
        (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7),  // unique local, incl. fd00::/8
        (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10), // link-local
        (0xfec0_0000_0000_0000_0000_0000_0000_0000, 10), // site-local (deprecated)
        (0xff00_0000_0000_0000_0000_0000_0000_0000, 8),  // multicast
    ];
    !BLOCKED.iter().any(|(net, prefix)| in_v6(ip, *net, *prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    const PRIVATE: &[&str] = &[
        "127.0.0.1",
        "127.255.255.254",
        "0.0.0.0",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.255",
        "169.254.169.254",
        "169.254.1.1",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "192.0.2.10",
        "198.51.100.7",
        "203.0.113.9",
        "198.18.0.1",
        "240.0.0.1",
        "::",
        "::1",
        "fe80::1",
        "febf::1",
        "fc00::1",
        "fd00::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:192.168.0.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a00:1",
        "2002:7f00:1::1",
        "2002:c0a8:101::1",
        "fd00:ec2::254",
    ];

    const PUBLIC: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "211.249.220.24", // kakao.com
        "172.32.0.1",
        "100.128.0.1",
        "192.169.0.1",
        "2606:4700:4700::1111",
        "2404:6800:4004:80a::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ];

    #[test]
    fn private_and_special_addresses_are_refused() {
        let policy = SsrfPolicy {
            allow_private: false,
        };
        for s in PRIVATE {
            assert!(!is_public(ip(s)), "{s} should not be public");
            let err = policy.check(ip(s)).err();
            assert_eq!(err, Some(Blocked(ip(s))), "{s}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let policy = SsrfPolicy::default();
        for s in PUBLIC {
            assert!(is_public(ip(s)), "{s} should be public");
            assert_eq!(policy.check(ip(s)), Ok(()), "{s}");
        }
    }

    #[test]
    fn allow_private_still_refuses_metadata() {
        let policy = SsrfPolicy {
            allow_private: true,
        };
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("10.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("fd12::1")), Ok(()));
        for s in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "169.254.170.2",
            "fd00:ec2::254",
        ] {
            assert!(policy.check(ip(s)).is_err(), "{s}");
        }
    }

    #[test]
    fn refusal_names_the_address() {
        let err = SsrfPolicy::default()
            .check(ip("127.0.0.1"))
            .err()
            .map(|b| b.to_string());
        assert_eq!(err.as_deref(), Some("blocked by SSRF guard: 127.0.0.1"));
    }
}
