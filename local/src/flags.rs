//! The flags each unit of a local computer is started with. A binary gets them on its command
//! line; a unit in this process gets them parsed by the same argument parser its binary uses, so
//! both ways run exactly the same configuration.

use std::net::SocketAddr;
use std::path::Path;

/// Any free port on loopback: what port 0 asks for.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The gRPC port beside an HTTP port: the next one (0 stays 0: any free port).
pub fn grpc_port(http_port: u16) -> u16 {
    if http_port == 0 {
        0
    } else {
        http_port.saturating_add(1)
    }
}

fn dir(d: &Path) -> String {
    d.display().to_string()
}

/// `arweave-local`'s flags.
pub fn gateway(data_dir: &Path, http: SocketAddr, block_interval: &str) -> Vec<String> {
    vec![
        "--data-dir".into(),
        dir(data_dir),
        "--http-addr".into(),
        http.to_string(),
        "--block-interval".into(),
        block_interval.to_string(),
    ]
}

/// The flags every unit server (SU, CU, MU) takes from a local computer.
pub fn server(data_dir: &Path, http: SocketAddr, grpc: SocketAddr, gateway: &str) -> Vec<String> {
    vec![
        "--data-dir".into(),
        dir(data_dir),
        "--http-addr".into(),
        http.to_string(),
        "--grpc-addr".into(),
        grpc.to_string(),
        "--gateway-url".into(),
        gateway.to_string(),
    ]
}

/// A CU's flags: a server's, reading schedules of processes the gateway does not know yet from
/// `su_grpc`.
pub fn cu(
    data_dir: &Path,
    http: SocketAddr,
    grpc: SocketAddr,
    gateway: &str,
    su_grpc: &str,
) -> Vec<String> {
    let mut f = server(data_dir, http, grpc, gateway);
    f.extend(["--su-url".into(), su_grpc.to_string()]);
    f
}

/// An MU's flags: a server's, reading results from `cu_grpc`, its admin listener at `admin` when
/// given (else the MU's own default, beside its gRPC port).
pub fn mu(
    data_dir: &Path,
    http: SocketAddr,
    grpc: SocketAddr,
    gateway: &str,
    cu_grpc: &str,
    admin: Option<SocketAddr>,
) -> Vec<String> {
    let mut f = server(data_dir, http, grpc, gateway);
    f.extend(["--cu-url".into(), cu_grpc.to_string()]);
    if let Some(a) = admin {
        f.extend(["--admin-addr".into(), a.to_string()]);
    }
    f
}

/// The router's flags: its own listeners, and each CU as a member (`--cu HTTP;grpc=GRPC`).
pub fn router(
    data_dir: &Path,
    http: SocketAddr,
    grpc: SocketAddr,
    cus: &[crate::computer::UnitAddrs],
) -> Vec<String> {
    let mut f = vec![
        "--data-dir".into(),
        dir(data_dir),
        "--http-addr".into(),
        http.to_string(),
        "--grpc-addr".into(),
        grpc.to_string(),
    ];
    for cu in cus {
        f.extend([
            "--cu".to_string(),
            format!("{};grpc={}", cu.http_url(), cu.grpc_url()),
        ]);
    }
    f
}

/// The OpenTelemetry service name of a unit binary: `ao-` and the unit, the gateway as
/// `ao-gateway`, so a trace names the unit each span ran in.
pub fn service_name(binary: &str) -> String {
    match binary {
        "arweave-local" => "ao-gateway".to_string(),
        unit => format!("ao-{unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_is_the_next_port_and_any_stays_any() {
        assert_eq!(grpc_port(9000), 9001);
        assert_eq!(grpc_port(0), 0);
        assert_eq!(grpc_port(u16::MAX), u16::MAX);
    }

    #[test]
    fn an_mu_gets_its_admin_address_only_when_pinned() {
        let a = loopback(1);
        let f = mu(Path::new("d"), a, a, "g", "c", None);
        assert!(!f.contains(&"--admin-addr".to_string()));
        let f = mu(Path::new("d"), a, a, "g", "c", Some(loopback(7)));
        assert_eq!(f[f.len() - 2..], ["--admin-addr", "127.0.0.1:7"]);
    }
}
