//! The client address of a request: the TCP peer, unless the peer is a proxy the operator
//! trusts (`--trusted-proxy CIDR`), in which case the address the proxy reports in `X-Real-IP`
//! or `X-Forwarded-For`.
//!
//! Without the check, anyone can send `X-Real-IP: <any address>` and pick their own rate-limit
//! bucket (or someone else's).

use std::net::IpAddr;

use axum::http::HeaderMap;
pub use ipnet::IpNet;

/// The client address a unit resolved for a request, put in the request's extensions by
/// [`crate::http::serve`] so handlers and limiters read it instead of the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Parse a `--trusted-proxy` value: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address
/// (`127.0.0.1`, taken as `/32` or `/128`).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("`{s}` is not a CIDR (like 10.0.0.0/8) or an IP address"))
}

/// Whether `ip` is inside one of `trusted` (an IPv4-mapped IPv6 peer counts as its IPv4).
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client of a request from `peer`: when `peer` is a trusted proxy, the address it reports
/// (`X-Real-IP`, else the last address of `X-Forwarded-For` that is not itself a trusted proxy);
/// otherwise, or when the headers hold no address, `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return canonical(peer);
    }
    let header_ip = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    };
    if let Some(ip) = header_ip("x-real-ip") {
        return canonical(ip);
    }
    // Each proxy appends the address it received from; read from the right, past our own
    // proxies, to the first hop none of them is: the client as far as we can know.
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    for ip in forwarded.iter().rev() {
        if !is_trusted(*ip, trusted) {
            return canonical(*ip);
        }
    }
    forwarded
        .first()
        .map_or(canonical(peer), |ip| canonical(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cidrs_parse() {
        assert!(
            parse_cidr("10.0.0.0/8")
                .unwrap()
                .contains(&"10.1.2.3".parse::<IpAddr>().unwrap())
        );
        assert!(
            parse_cidr("10.1.2.3/8")
                .unwrap()
                .contains(&"10.9.9.9".parse::<IpAddr>().unwrap())
        );
        assert_eq!(parse_cidr("127.0.0.1").unwrap().prefix_len(), 32);
        assert_eq!(parse_cidr("::1").unwrap().prefix_len(), 128);
        assert!(parse_cidr("fd00::/8").is_ok());
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("proxy").is_err());
    }

    #[test]
    fn headers_count_only_from_trusted_peers() {
        let spoof = headers(&[("x-real-ip", "1.2.3.4"), ("x-forwarded-for", "5.6.7.8")]);
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(peer, &spoof, &[]), peer);
        let trusted = [parse_cidr("10.0.0.0/8").unwrap()];
        assert_eq!(client_ip(peer, &spoof, &trusted), peer);
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &spoof, &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        let chain = headers(&[("x-forwarded-for", "9.9.9.9, 5.6.7.8, 10.0.0.7")]);
        assert_eq!(
            client_ip(proxy, &chain, &trusted),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        assert!(is_trusted(mapped, &trusted));
    }
}
